package io.netpass.agent.api;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.Pattern;

import java.net.InetSocketAddress;

import org.jspecify.annotations.Nullable;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebInputException;

import io.netpass.agent.migration.MigrationSessions;
import io.netpass.agent.migration.SourceSession;
import io.netpass.agent.stream.FinalCountRequest;
import io.netpass.agent.stream.FinalCountTarget;
import io.netpass.agent.stream.PeerClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The endpoint peer agents pull kept frames from; asking for frames after N acknowledges frames up to N. */
@RestController
public class PeerFrameStreamController {

    private final MigrationSessions sessions;

    public PeerFrameStreamController(MigrationSessions sessions) {
        this.sessions = sessions;
    }

    /** Lets a destination agent open its connection and check its token before it needs them. */
    @GetMapping("/v1/peer/ping")
    public ResponseEntity<Void> ping() {
        return ResponseEntity.noContent().build();
    }

    /**
     * The destination's VM runs: the source forwards every kept frame at once, then what still reaches its tap. The
     * destination sends its release datagram too, when the source gave it a port; whichever comes first counts.
     */
    @PostMapping("/v1/peer/migrations/{migrationId}/release")
    public ResponseEntity<Void> release(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId) {
        sessions.source(migrationId).requestRelease(SourceSession.ReleaseTrigger.RELEASE_REQUEST);
        return ResponseEntity.noContent().build();
    }

    /**
     * Streams the kept frames. Reactor Netty flushes whenever no further chunk is ready, so a chunk never waits for
     * the stream's end: the destination injects while the source is still forwarding. The chunks are written as a
     * plain stream rather than one flushed publisher per chunk ({@code writeAndFlushWith}): a chunk wrapped in a
     * publisher of its own is out of reach of the discard hook, and leaks when the destination cancels the stream
     * before it was written.
     */
    @GetMapping(path = "/v1/peer/migrations/{migrationId}/frames", produces = "application/vnd.netpass.frame-stream.v2")
    public Mono<Void> frames(@PathVariable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String migrationId,
            @RequestParam(defaultValue = "-1") @Min(-1) long after, @RequestParam(defaultValue = "false") boolean hold,
            @RequestHeader(name = FinalCountRequest.PORT_HEADER, required = false) @Min(1) @Max(65_535)
            @Nullable Integer finalCountPort,
            @RequestHeader(name = FinalCountRequest.KEY_HEADER, required = false)
            @Pattern(regexp = FinalCountRequest.KEY_PATTERN) @Nullable String finalCountKey,
            ServerHttpRequest request, ServerHttpResponse response) {
        FinalCountTarget finalCountTarget = finalCountTarget(finalCountPort, finalCountKey, request);
        SourceSession session = sessions.source(migrationId);
        Flux<DataBuffer> body = session.frames(after, hold, finalCountTarget, response.bufferFactory());
        response.getHeaders().setContentType(PeerClient.FRAME_STREAM);
        Integer releasePort = session.releaseDatagramPort();
        if (releasePort != null) {
            response.getHeaders().set(FinalCountRequest.RELEASE_PORT_HEADER, releasePort.toString());
        }
        return response.writeWith(body.doOnDiscard(DataBuffer.class, DataBufferUtils::release));
    }

    /** Where the datagram goes: the port asked for, on the address the (authenticated) request came from. */
    private static @Nullable FinalCountTarget finalCountTarget(@Nullable Integer port, @Nullable String key,
            ServerHttpRequest request) {
        if ((port == null) != (key == null)) {
            throw new ServerWebInputException(FinalCountRequest.PORT_HEADER + " and " + FinalCountRequest.KEY_HEADER
                    + " go together");
        }
        InetSocketAddress from = request.getRemoteAddress();
        if (port == null || from == null) {
            return null;
        }
        return new FinalCountTarget(new InetSocketAddress(from.getAddress(), port),
                FinalCountRequest.of(port, key).key());
    }
}
