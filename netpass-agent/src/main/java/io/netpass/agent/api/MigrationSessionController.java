package io.netpass.agent.api;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Pattern;

import org.jspecify.annotations.Nullable;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;

import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.migration.MigrationRole;
import io.netpass.agent.migration.MigrationSessions;
import io.netpass.agent.security.TapPolicy;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** The controller's endpoints: arm and disarm the sides of a migration, read their status, report events. */
@RestController
public class MigrationSessionController {

    private final MigrationSessions sessions;
    private final TapPolicy policy;

    public MigrationSessionController(MigrationSessions sessions, TapPolicy policy) {
        this.sessions = sessions;
        this.policy = policy;
    }

    /** Arming enters namespaces and waits for a quiet moment on the tap: it runs off the event loop. */
    @PutMapping("/v1/migrations/{migrationId}/source")
    public Mono<SessionView> armSource(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @Valid @RequestBody ArmSourceRequest request) {
        return Mono.fromCallable(() -> {
            policy.check(request.tap(), request.namespace());
            return SessionView.of(sessions.armSource(migrationId, location(request.tap(), request.namespace()),
                    request.vmMacs()));
        }).subscribeOn(Schedulers.boundedElastic());
    }

    @PutMapping("/v1/migrations/{migrationId}/destination")
    public Mono<SessionView> armDestination(
            @PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @Valid @RequestBody ArmDestinationRequest request) {
        return Mono.fromCallable(() -> {
            policy.check(request.tap(), request.namespace());
            return SessionView.of(sessions.armDestination(migrationId, location(request.tap(), request.namespace()),
                    request.vmMacs(), URI.create(request.sourceAgent())));
        }).subscribeOn(Schedulers.boundedElastic());
    }

    @GetMapping("/v1/migrations/{migrationId}/{role}")
    public SessionView session(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @PathVariable String role) {
        return switch (MigrationRole.fromPathSegment(role)) {
            case SOURCE -> SessionView.of(sessions.source(migrationId));
            case DESTINATION -> SessionView.of(sessions.destination(migrationId));
        };
    }

    /** Disarming waits for the capture thread's last reconciliation: off the event loop. */
    @DeleteMapping("/v1/migrations/{migrationId}/{role}")
    @ResponseStatus(HttpStatus.NO_CONTENT)
    public Mono<Void> disarm(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @PathVariable String role) {
        MigrationRole parsed = MigrationRole.fromPathSegment(role);
        return Mono.<Void>fromRunnable(() -> sessions.disarm(migrationId, parsed))
                .subscribeOn(Schedulers.boundedElastic());
    }

    @PostMapping("/v1/migrations/{migrationId}/events")
    @ResponseStatus(HttpStatus.ACCEPTED)
    public Mono<Void> event(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @Valid @RequestBody MigrationEventRequest event) {
        return Mono.<Void>fromRunnable(() -> sessions.event(migrationId, event.type()))
                .subscribeOn(Schedulers.boundedElastic());
    }

    @GetMapping("/v1/sessions")
    public List<SessionView> list() {
        return Stream.concat(sessions.sources().stream().map(SessionView::of),
                sessions.destinations().stream().map(SessionView::of)).toList();
    }

    private static TapLocation location(String tap, @Nullable String namespace) {
        return new TapLocation(namespace == null ? null : Path.of(namespace), tap);
    }
}
