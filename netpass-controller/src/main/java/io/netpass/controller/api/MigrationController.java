package io.netpass.controller.api;

import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

import org.jspecify.annotations.Nullable;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;

import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.migration.Migration;
import io.netpass.controller.migration.MigrationCoordinator;
import io.netpass.controller.migration.MigrationSnapshot;
import io.netpass.controller.migration.MigrationState;
import io.netpass.controller.migration.Migrations;
import io.netpass.controller.migration.NewMigration;
import io.netpass.controller.migration.Nic;
import io.netpass.controller.migration.VmLocator;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Signal;

/** The orchestrators' endpoints: migrations, their events and their state-change stream. */
@RestController
public class MigrationController {

    private static final String IDEMPOTENCY_KEY = "Idempotency-Key";

    private final Migrations migrations;
    private final MigrationCoordinator coordinator;
    private final AgentDirectory directory;
    private final ApiProperties properties;

    public MigrationController(Migrations migrations, MigrationCoordinator coordinator, AgentDirectory directory,
            ApiProperties properties) {
        this.migrations = migrations;
        this.coordinator = coordinator;
        this.directory = directory;
        this.properties = properties;
    }

    /** 202 for a new migration (arming may go on after the answer), 200 for a repeated request. */
    @PostMapping(path = "/v1/migrations", consumes = MediaType.APPLICATION_JSON_VALUE)
    public Mono<ResponseEntity<MigrationView>> create(
            @RequestHeader(name = IDEMPOTENCY_KEY, required = false) @Nullable @Size(max = 128)
            @Pattern(regexp = ApiPatterns.IDEMPOTENCY_KEY) String idempotencyKey,
            @Valid @RequestBody CreateMigrationRequest request) {
        VmLocator discover = locator(request.discover());
        List<Nic> nics = request.nics() == null ? List.of() : request.nics().stream()
                .map(nic -> new Nic(nic.mac().toLowerCase(Locale.ROOT), nic.sourceTap(),
                        nic.sourceNamespace(), nic.destinationTap(), nic.destinationNamespace()))
                .toList();
        URI destination = AgentDirectory.normalize(URI.create(request.destinationAgent()));
        Mono<URI> source = request.sourceAgent() != null
                ? Mono.just(AgentDirectory.normalize(URI.create(request.sourceAgent())))
                : coordinator.locateSource(Objects.requireNonNull(discover), destination);
        return source.flatMap(sourceAgent -> coordinator.create(new NewMigration(request.id(), idempotencyKey,
                        request.vm(), sourceAgent, destination, nics, discover), properties.agentWait()))
                .map(created -> {
                    MigrationView view = MigrationView.of(created.migration().snapshot());
                    return created.created()
                            ? ResponseEntity.accepted().location(URI.create("/v1/migrations/" + view.id())).body(view)
                            : ResponseEntity.ok(view);
                });
    }

    @GetMapping("/v1/migrations")
    public MigrationView.Page list(
            @RequestParam(required = false) @Nullable MigrationState state,
            @RequestParam(required = false) @Nullable @Pattern(regexp = ApiPatterns.VM) String vm,
            @RequestParam(required = false) @Nullable @Pattern(regexp = ApiPatterns.HOST) String host,
            @RequestParam(required = false) @Nullable Boolean active,
            @RequestParam(defaultValue = "100") @Min(1) @Max(1000) int limit) {
        List<MigrationSnapshot> found = migrations.list(new Migrations.Filter(state, vm, host, active, limit),
                migration -> onHost(migration, host));
        return new MigrationView.Page(found.stream().map(MigrationView::of).toList());
    }

    @GetMapping("/v1/migrations/{migrationId}")
    public MigrationView get(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId) {
        return MigrationView.of(migrations.get(migrationId).snapshot());
    }

    @DeleteMapping("/v1/migrations/{migrationId}")
    @ResponseStatus(HttpStatus.ACCEPTED)
    public MigrationView cancel(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId) {
        return MigrationView.of(coordinator.cancel(migrationId).snapshot());
    }

    @PostMapping(path = "/v1/migrations/{migrationId}/events", consumes = MediaType.APPLICATION_JSON_VALUE)
    @ResponseStatus(HttpStatus.ACCEPTED)
    public Mono<MigrationView> event(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @Valid @RequestBody MigrationEventRequest event) {
        return coordinator.event(migrationId, event.type(), properties.agentWait())
                .map(migration -> MigrationView.of(migration.snapshot()));
    }

    /** The migration now, then on every state change; ends once it finished and its agents were disarmed. */
    @GetMapping(path = "/v1/migrations/{migrationId}/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    public Flux<ServerSentEvent<MigrationView>> watch(
            @PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId) {
        Migration migration = migrations.get(migrationId);
        AtomicLong lastSent = new AtomicLong(-1);
        // Subscribing to changes before taking the first snapshot: no change falls between the two.
        Flux<MigrationSnapshot> states = Flux.merge(
                migrations.changes().filter(changed -> changed == migration).map(Migration::snapshot),
                Mono.fromCallable(migration::snapshot));
        Flux<ServerSentEvent<MigrationView>> events = states
                .filter(snapshot -> lastSent.getAndAccumulate(snapshot.version(), Math::max) < snapshot.version())
                .takeUntil(snapshot -> !snapshot.state().active() && snapshot.settled())
                .map(snapshot -> ServerSentEvent.builder(MigrationView.of(snapshot))
                        .event("state").id(Long.toString(snapshot.version())).build());
        Flux<ServerSentEvent<MigrationView>> heartbeats = Flux.interval(properties.streamHeartbeat())
                .map(tick -> ServerSentEvent.<MigrationView>builder().comment("keep-alive").build());
        // The stream ends with the events; the heartbeats stop with it.
        return Flux.merge(events.materialize(), heartbeats.map(Signal::next)).dematerialize();
    }

    private static @Nullable VmLocator locator(CreateMigrationRequest.@Nullable DiscoverRequest discover) {
        if (discover == null) {
            return null;
        }
        CreateMigrationRequest.KubevirtVmiRequest vmi = discover.kubevirtVmi();
        return new VmLocator(discover.libvirtDomain(),
                vmi == null ? null : new VmLocator.KubevirtVmi(vmi.namespace(), vmi.name()));
    }

    private boolean onHost(Migration migration, @Nullable String host) {
        if (host == null) {
            return true;
        }
        for (URI agent : List.of(migration.sourceAgent(), migration.destinationAgent())) {
            if (host.equalsIgnoreCase(agent.getHost()) || directory.nameOf(agent).filter(host::equals).isPresent()) {
                return true;
            }
        }
        return false;
    }
}
