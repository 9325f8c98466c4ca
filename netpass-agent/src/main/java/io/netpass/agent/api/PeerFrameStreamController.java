package io.netpass.agent.api;

import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.Pattern;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;

import io.netpass.agent.migration.MigrationSessions;
import io.netpass.agent.migration.SourceSession;
import io.netpass.agent.stream.PeerClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** The endpoint peer agents pull kept frames from; asking for frames after N acknowledges frames up to N. */
@RestController
public class PeerFrameStreamController {

    private final MigrationSessions sessions;

    public PeerFrameStreamController(MigrationSessions sessions) {
        this.sessions = sessions;
    }

    @GetMapping(path = "/v1/peer/migrations/{migrationId}/frames", produces = "application/vnd.netpass.frame-stream.v1")
    public Mono<ResponseEntity<Flux<DataBuffer>>> frames(
            @PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @RequestParam(defaultValue = "-1") @Min(-1) long after, ServerWebExchange exchange) {
        SourceSession session = sessions.source(migrationId);
        Flux<DataBuffer> body = session.frames(after, exchange.getResponse().bufferFactory());
        // The release (matching the tap's last reads) blocks briefly, so the headers that depend on it are computed
        // off the event loop before the response starts.
        return Mono.fromCallable(() -> {
            session.releaseNow();
            HttpHeaders headers = new HttpHeaders();
            headers.set(PeerClient.RELEASE_SEQUENCE_HEADER, Long.toString(session.releaseSequence()));
            headers.set(PeerClient.KEPT_FRAMES_HEADER, Long.toString(session.captureStatus().keptFrames()));
            return ResponseEntity.ok().headers(headers).contentType(PeerClient.FRAME_STREAM)
                    .body(body.doOnDiscard(DataBuffer.class, DataBufferUtils::release));
        }).subscribeOn(Schedulers.boundedElastic());
    }
}
