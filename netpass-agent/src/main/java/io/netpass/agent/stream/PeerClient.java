package io.netpass.agent.stream;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.util.UriComponentsBuilder;

import io.netpass.common.security.SecureClients;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.http.HttpProtocol;
import reactor.netty.http.client.HttpClient;

/**
 * The destination agent's client towards the source agent: asks over HTTP/2 for the kept frames after a sequence
 * number and receives them as a streaming body.
 */
public final class PeerClient {

    /** Media type of the frame stream, see docs/frame-stream.md. */
    public static final MediaType FRAME_STREAM = MediaType.parseMediaType("application/vnd.netpass.frame-stream.v2");
    /**
     * How long a frame stream may receive nothing before this client flushes its HTTP/2 connection. Reactor Netty
     * 1.3.6 / Netty 4.2.15 sometimes write the WINDOW_UPDATE that reopens the stream's flow-control window without
     * flushing it: the source, out of window, waits for it forever (docs/frame-stream.md, "Flow control"). A flush of
     * an idle connection costs nothing, so the nudge is short: 3–5 of 10 warm release bursts of 2,000 frames hit the
     * stall and took 100 ms longer with a 100 ms nudge (docs/performance.md). The stream's idle timeout (1 s) stays
     * the net under this one.
     */
    public static final Duration UNFLUSHED_WINDOW_UPDATE_NUDGE = Duration.ofMillis(5);

    /**
     * The HTTP/2 stream window the destination grants the source. Netty's default (64 KiB) let the source send ≈ 40
     * frames of 1500 B per WINDOW_UPDATE round trip and capped the stream below 400 MiB/s on loopback; 256 KiB
     * carries 600 MiB/s there (docs/performance.md) and keeps what a broken connection loses in flight small.
     */
    static final int STREAM_WINDOW_BYTES = 256 * 1024;

    private volatile WebClient webClient;
    private final Supplier<String> peerToken;

    /** A client over h2c (HTTP/2 with prior knowledge), the default between agents. */
    public PeerClient(Supplier<String> peerToken) {
        this(HttpClient.create().protocol(HttpProtocol.H2C), peerToken);
    }

    /** A client over HTTP/2 with TLS (ALPN h2), trusting and presenting what {@code tls} holds. */
    public PeerClient(SslBundle tls, Supplier<String> peerToken) {
        this(overTls(tls), peerToken);
    }

    public PeerClient(HttpClient httpClient, Supplier<String> peerToken) {
        this.webClient = webClient(httpClient);
        this.peerToken = peerToken;
    }

    /** Flushes the connection of a response stream that received nothing for a while (see the nudge's Javadoc). */
    private static HttpClient flushingStalledWindowUpdates(HttpClient httpClient) {
        return httpClient.doOnResponse((response, connection) -> {
            Channel connectionChannel = connection.channel().parent();
            if (connectionChannel != null) {
                connection.channel().pipeline().addFirst(new FlushingWindowUpdates(connectionChannel));
                connection.onReadIdle(UNFLUSHED_WINDOW_UPDATE_NUDGE.toMillis(), connectionChannel::flush);
            }
        });
    }

    /**
     * Flushes the connection after every read the stream's consumer asks for. Asking to read is when Netty's HTTP/2
     * stream channel writes the WINDOW_UPDATE for the bytes consumed so far; when nothing is queued for the stream
     * (the source is waiting for that very update) it does not flush it, and the source waits for the nudge above
     * (docs/frame-stream.md, "The stall"). A flush with nothing pending costs nothing.
     */
    private static final class FlushingWindowUpdates extends ChannelOutboundHandlerAdapter {

        private final Channel connection;

        FlushingWindowUpdates(Channel connection) {
            this.connection = connection;
        }

        @Override
        public void read(ChannelHandlerContext context) {
            context.read();
            connection.flush();
        }
    }

    /** Uses {@code tls} from now on (a rotated bundle); streams already open keep their connection. */
    public void useTls(SslBundle tls) {
        this.webClient = webClient(overTls(tls));
    }

    private static HttpClient overTls(SslBundle tls) {
        return SecureClients.http2(HttpClient.create(), tls);
    }

    private static WebClient webClient(HttpClient httpClient) {
        return WebClient.builder()
                .clientConnector(new ReactorClientHttpConnector(flushingStalledWindowUpdates(
                        httpClient.http2Settings(settings -> settings.initialWindowSize(STREAM_WINDOW_BYTES)))))
                .build();
    }

    /** Opens the stream of migration {@code migrationId}'s kept frames numbered after {@code after}. */
    public Flux<DataBuffer> frames(URI sourceAgent, String migrationId, long after) {
        return frames(sourceAgent, migrationId, after, false, null, null);
    }

    /** See {@link #frames(URI, String, long, boolean, FinalCountRequest, IntConsumer)}, without the release port. */
    public Flux<DataBuffer> frames(URI sourceAgent, String migrationId, long after, boolean hold,
            @Nullable FinalCountRequest finalCount) {
        return frames(sourceAgent, migrationId, after, hold, finalCount, null);
    }

    /**
     * Opens the stream of migration {@code migrationId}'s kept frames. Without {@code hold} the source releases them
     * first; with it, the stream starts before the release and carries frames as the source VM leaves them unread
     * (docs/frame-stream.md, "The held stream"). The caller releases every chunk, including those its operators
     * discard ({@code doOnDiscard} once, at the end of its chain: two hooks would release a discarded chunk twice,
     * while Reactor Netty still holds it). With {@code finalCount}, the source also sends its final count as a
     * datagram (docs/frame-stream.md), and a source that listens for the release datagram answers with its UDP port,
     * handed to {@code onReleasePort} (on the connection's event loop) before the first chunk.
     */
    public Flux<DataBuffer> frames(URI sourceAgent, String migrationId, long after, boolean hold,
            @Nullable FinalCountRequest finalCount, @Nullable IntConsumer onReleasePort) {
        UriComponentsBuilder builder = UriComponentsBuilder.fromUri(sourceAgent)
                .path("/v1/peer/migrations/{id}/frames")
                .queryParam("after", after);
        if (hold) {
            builder.queryParam("hold", true);
        }
        URI uri = builder.buildAndExpand(migrationId).toUri();
        return webClient.get()
                .uri(uri)
                .accept(FRAME_STREAM)
                .header(HttpHeaders.AUTHORIZATION, "Bearer " + peerToken.get())
                .headers(headers -> {
                    if (finalCount != null) {
                        finalCount.addTo(headers);
                    }
                })
                .retrieve()
                .onStatus(HttpStatusCode::isError, response -> response.bodyToMono(String.class).defaultIfEmpty("")
                        .map(body -> new PeerRequestException(HttpMethod.GET, uri, response.statusCode(), body)))
                .toEntityFlux(DataBuffer.class)
                .flatMapMany(response -> {
                    int releasePort = releasePort(response.getHeaders());
                    if (onReleasePort != null && releasePort > 0) {
                        onReleasePort.accept(releasePort);
                    }
                    return Objects.requireNonNull(response.getBody());
                });
    }

    /** The source's {@link FinalCountRequest#RELEASE_PORT_HEADER}, or 0 if it sent none or none that is a port. */
    private static int releasePort(HttpHeaders headers) {
        String value = headers.getFirst(FinalCountRequest.RELEASE_PORT_HEADER);
        if (value == null) {
            return 0;
        }
        try {
            int port = Integer.parseInt(value.strip());
            return port >= 1 && port <= 65_535 ? port : 0;
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /**
     * Opens (or reuses) the HTTP/2 connection to {@code sourceAgent} and checks the peer token, so that the pull at
     * switchover pays for neither.
     */
    public Mono<Void> ping(URI sourceAgent) {
        URI uri = UriComponentsBuilder.fromUri(sourceAgent).path("/v1/peer/ping").build().toUri();
        return bodiless(HttpMethod.GET, uri);
    }

    /** Tells the source that the VM runs here: it forwards every kept frame at once and ends after the quiet period. */
    public Mono<Void> release(URI sourceAgent, String migrationId) {
        return bodiless(HttpMethod.POST, UriComponentsBuilder.fromUri(sourceAgent)
                .path("/v1/peer/migrations/{id}/release").buildAndExpand(migrationId).toUri());
    }

    private Mono<Void> bodiless(HttpMethod method, URI uri) {
        return webClient.method(method)
                .uri(uri)
                .header(HttpHeaders.AUTHORIZATION, "Bearer " + peerToken.get())
                .retrieve()
                .onStatus(HttpStatusCode::isError, response -> response.bodyToMono(String.class).defaultIfEmpty("")
                        .map(body -> new PeerRequestException(method, uri, response.statusCode(), body)))
                .toBodilessEntity()
                .then();
    }

    /** The source agent refused the request. */
    public static final class PeerRequestException extends RuntimeException {

        private final HttpStatusCode status;

        public PeerRequestException(HttpMethod method, URI uri, HttpStatusCode status, String body) {
            super(method.name() + " " + uri + " answered " + status.value() + ": " + body);
            this.status = status;
        }

        public HttpStatusCode status() {
            return status;
        }
    }
}
