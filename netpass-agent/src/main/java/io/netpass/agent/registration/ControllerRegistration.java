package io.netpass.agent.registration;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import io.netty.channel.ChannelOption;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.util.UriComponentsBuilder;

import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.databind.json.JsonMapper;

import io.netpass.common.security.SecureClients;

/**
 * Registers this agent with the controller ({@code PUT /v1/agents/NAME}) and renews the registration every
 * interval as its heartbeat; after a failure it retries with a doubling backoff. Runs on Reactor's timer and the
 * client's event loop, never on a request's path or the data path. A failure is logged when registration goes from
 * working (or starting) to failing, and success when it goes back, not at every attempt.
 */
public final class ControllerRegistration implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ControllerRegistration.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** Where registration is. */
    public enum State {
        /** No attempt has finished yet. */
        STARTING,
        /** The last attempt succeeded. */
        REGISTERED,
        /** The last attempt failed; retrying. */
        FAILING
    }

    /**
     * What the registration looks like now.
     *
     * @param state where it is
     * @param lastRegisteredAt the last successful registration or renewal
     * @param lastFailure why the last failed attempt failed
     */
    public record Status(State state, @Nullable Instant lastRegisteredAt, @Nullable String lastFailure) {
    }

    private final RegistrationProperties properties;
    private final URI controllerUrl;
    private final String name;
    private final Supplier<String> token;
    private final ConnectionProvider connections;
    private final HttpClient plain;
    private volatile WebClient client;
    private final AtomicLong successes = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private volatile Status status = new Status(State.STARTING, null, null);
    private volatile @Nullable URI advertisedUrl;
    /** Touched only by the registration loop, one attempt at a time. */
    private int consecutiveFailures;
    private @Nullable Disposable loop;

    ControllerRegistration(RegistrationProperties properties, URI controllerUrl, String name,
            Supplier<String> token, @Nullable SslBundle tls) {
        this.properties = properties;
        this.controllerUrl = controllerUrl;
        this.name = name;
        this.token = token;
        this.connections = ConnectionProvider.builder("netpass-registration").maxConnections(1)
                .pendingAcquireTimeout(properties.callTimeout()).build();
        this.plain = HttpClient.create(connections)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, Math.toIntExact(properties.callTimeout().toMillis()))
                .responseTimeout(properties.callTimeout());
        this.client = webClient(tls);
    }

    /** Verifies the controller with {@code tls} from now on (a rotated bundle). */
    void useTls(SslBundle tls) {
        this.client = webClient(tls);
    }

    private WebClient webClient(@Nullable SslBundle tls) {
        HttpClient http = tls == null ? plain : SecureClients.http11(plain, tls);
        return WebClient.builder().clientConnector(new ReactorClientHttpConnector(http)).build();
    }

    /** Starts registering as {@code advertisedUrl}: the first attempt now, off the caller's thread. */
    synchronized void start(URI advertisedUrl) {
        if (loop != null) {
            return;
        }
        this.advertisedUrl = advertisedUrl;
        log.info("registering with controller {} as {} at {} every {}", controllerUrl, name, advertisedUrl,
                properties.interval());
        loop = Mono.defer(this::attempt).flatMap(Mono::delay).repeat().subscribe();
    }

    public String name() {
        return name;
    }

    public URI controllerUrl() {
        return controllerUrl;
    }

    public @Nullable URI advertisedUrl() {
        return advertisedUrl;
    }

    public Status status() {
        return status;
    }

    public long successes() {
        return successes.get();
    }

    public long failures() {
        return failures.get();
    }

    /** One registration call; emits how long to wait before the next. Never fails. */
    private Mono<Duration> attempt() {
        URI endpoint = UriComponentsBuilder.fromUri(controllerUrl).path("/v1/agents/{name}").buildAndExpand(name)
                .toUri();
        return Mono.defer(() -> client.put()
                        .uri(endpoint)
                        .header(HttpHeaders.AUTHORIZATION, "Bearer " + token.get())
                        .contentType(MediaType.APPLICATION_JSON)
                        .bodyValue(JSON.writeValueAsString(Map.of("baseUrl", String.valueOf(advertisedUrl))))
                        .retrieve()
                        .onStatus(HttpStatusCode::isError, response -> response.bodyToMono(String.class)
                                .defaultIfEmpty("")
                                .map(body -> new IllegalStateException("PUT " + endpoint + " answered "
                                        + response.statusCode().value() + " " + body)))
                        .toBodilessEntity())
                .timeout(properties.callTimeout().plusSeconds(1))
                .map(ok -> succeeded())
                .onErrorResume(e -> Mono.just(failed(e)));
    }

    private Duration succeeded() {
        successes.incrementAndGet();
        consecutiveFailures = 0;
        Status before = status;
        status = new Status(State.REGISTERED, Instant.now(), null);
        if (before.state() != State.REGISTERED) {
            log.info("registered with controller {} as {} at {}", controllerUrl, name, advertisedUrl);
        }
        return properties.interval();
    }

    private Duration failed(Throwable e) {
        failures.incrementAndGet();
        consecutiveFailures++;
        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        Status before = status;
        status = new Status(State.FAILING, before.lastRegisteredAt(), why);
        if (before.state() != State.FAILING) {
            log.warn("cannot register with controller {} as {}: {}; retrying, and logging again once it works",
                    controllerUrl, name, why);
        }
        Duration backoff = properties.failureBackoff().multipliedBy(1L << Math.min(consecutiveFailures - 1, 20));
        return backoff.compareTo(properties.maxFailureBackoff()) > 0 ? properties.maxFailureBackoff() : backoff;
    }

    @Override
    public synchronized void close() {
        if (loop != null) {
            loop.dispose();
        }
        connections.dispose();
    }
}
