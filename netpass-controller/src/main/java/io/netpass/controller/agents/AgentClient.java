package io.netpass.controller.agents;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import io.netty.channel.ChannelOption;
import org.jspecify.annotations.Nullable;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.HttpHeaders;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.WebClient;

import io.netpass.controller.metrics.ControllerMeters;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;

/**
 * Calls the agents' API (openapi/netpass-agent.yaml) with the controller's agent token. Every call ends within the
 * configured response timeout: a failure, a timeout or an error status becomes an {@link AgentCallException}.
 */
public final class AgentClient implements AutoCloseable {

    /** Body of {@code PUT /v1/migrations/ID/source}. */
    public record ArmSource(String tap, @Nullable String namespace, List<String> vmMacs) {
    }

    /** Body of {@code PUT /v1/migrations/ID/destination}. */
    public record ArmDestination(String tap, @Nullable String namespace, List<String> vmMacs, String sourceAgent) {
    }

    /** Body of {@code POST /v1/discovery}: exactly one locator. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Discover(@Nullable String libvirtDomain, @Nullable KubevirtVmi kubevirtVmi) {
    }

    /** A KubeVirt VMI in a {@link Discover} body. */
    public record KubevirtVmi(String namespace, String name) {
    }

    /** What an agent discovered: the QEMU process and its tap NICs. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Discovered(int qemuPid, List<DiscoveredNic> nics) {
    }

    /** One tap NIC: the guest's MAC, the tap and its namespace path ({@code /proc/PID/ns/net} or /run/netns/X). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record DiscoveredNic(@Nullable String mac, String tap, String namespace) {
    }

    private record Event(String type) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    private record AgentProblem(@Nullable String title, @Nullable String detail) {
    }

    private static final ParameterizedTypeReference<List<AgentSession>> SESSIONS = new ParameterizedTypeReference<>() {
    };

    private final ConnectionProvider pool;
    private final WebClient web;
    private final Supplier<String> token;
    private final Duration callTimeout;
    private final ControllerMeters meters;

    public AgentClient(WebClient.Builder builder, AgentProperties.AgentCalls calls, Supplier<String> token,
            ControllerMeters meters) {
        this.pool = ConnectionProvider.builder("netpass-agents")
                .maxConnections(calls.maxConnections())
                .pendingAcquireTimeout(calls.responseTimeout())
                .maxIdleTime(Duration.ofSeconds(20))
                .build();
        HttpClient http = HttpClient.create(pool)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, Math.toIntExact(calls.connectTimeout().toMillis()))
                .responseTimeout(calls.responseTimeout());
        this.web = builder.clone().clientConnector(new ReactorClientHttpConnector(http)).build();
        this.token = token;
        // Reactor Netty's response timeout starts once the request is sent; this bound also covers connecting and
        // waiting for a pooled connection.
        this.callTimeout = calls.responseTimeout().plus(calls.connectTimeout());
        this.meters = meters;
    }

    public Mono<AgentSession> armSource(URI agent, String sessionId, ArmSource request) {
        return call(AgentOperation.ARM_SOURCE, agent,
                web -> web.put().uri(url(agent, sessionId, AgentRole.SOURCE)).bodyValue(request),
                response -> response.bodyToMono(AgentSession.class));
    }

    public Mono<AgentSession> armDestination(URI agent, String sessionId, ArmDestination request) {
        return call(AgentOperation.ARM_DESTINATION, agent,
                web -> web.put().uri(url(agent, sessionId, AgentRole.DESTINATION)).bodyValue(request),
                response -> response.bodyToMono(AgentSession.class));
    }

    public Mono<AgentSession> session(URI agent, String sessionId, AgentRole role) {
        return call(AgentOperation.GET_SESSION, agent, web -> web.get().uri(url(agent, sessionId, role)),
                response -> response.bodyToMono(AgentSession.class));
    }

    /** Disarms one side; a side the agent no longer holds counts as disarmed. */
    public Mono<Void> disarm(URI agent, String sessionId, AgentRole role) {
        return call(AgentOperation.DISARM, agent, web -> web.delete().uri(url(agent, sessionId, role)),
                ClientResponse::releaseBody)
                .onErrorResume(e -> e instanceof AgentCallException call && call.sessionNotFound(), e -> Mono.empty());
    }

    /** Reports an orchestrator's event ({@code SOURCE_PAUSED}, ...) to whichever sides the agent holds. */
    public Mono<Void> event(URI agent, String sessionId, String type) {
        return call(AgentOperation.EVENT, agent,
                web -> web.post().uri(agent.resolve("/v1/migrations/" + sessionId + "/events"))
                        .bodyValue(new Event(type)),
                ClientResponse::releaseBody);
    }

    public Mono<List<AgentSession>> sessions(URI agent) {
        return call(AgentOperation.LIST_SESSIONS, agent, web -> web.get().uri(agent.resolve("/v1/sessions")),
                response -> response.bodyToMono(SESSIONS));
    }

    /** Asks an agent to find a VM's QEMU process and tap NICs on its host. */
    public Mono<Discovered> discover(URI agent, Discover request) {
        return call(AgentOperation.DISCOVER, agent, web -> web.post().uri(agent.resolve("/v1/discovery"))
                .bodyValue(request), response -> response.bodyToMono(Discovered.class));
    }

    private static URI url(URI agent, String sessionId, AgentRole role) {
        return agent.resolve("/v1/migrations/" + sessionId + "/" + role.pathSegment());
    }

    private <T> Mono<T> call(AgentOperation operation, URI agent,
            Function<WebClient, WebClient.RequestHeadersSpec<?>> request, Function<ClientResponse, Mono<T>> body) {
        return Mono.defer(() -> {
            long started = System.nanoTime();
            return request.apply(web)
                    .header(HttpHeaders.AUTHORIZATION, "Bearer " + token.get())
                    .exchangeToMono(response -> {
                        if (response.statusCode().is2xxSuccessful()) {
                            return body.apply(response);
                        }
                        int status = response.statusCode().value();
                        return response.bodyToMono(AgentProblem.class)
                                .onErrorResume(e -> Mono.empty())
                                .map(problem -> describe(status, problem))
                                .defaultIfEmpty("HTTP " + status)
                                .flatMap(detail -> Mono.error(
                                        new AgentCallException(operation, agent, status, detail, null)));
                    })
                    .timeout(callTimeout)
                    .onErrorMap(e -> !(e instanceof AgentCallException),
                            e -> new AgentCallException(operation, agent, 0, unreachable(e), e))
                    .doOnSuccess(ignored -> meters.agentCall(operation, "success", System.nanoTime() - started))
                    .doOnError(e -> meters.agentCall(operation,
                            ((AgentCallException) e).answered() ? "error" : "unreachable",
                            System.nanoTime() - started));
        });
    }

    private static String describe(int status, AgentProblem problem) {
        String text = problem.detail() != null ? problem.detail() : problem.title();
        return "HTTP " + status + (text == null ? "" : ": " + text);
    }

    private String unreachable(Throwable e) {
        Throwable root = e;
        while (true) {
            // Reactor's TimeoutException, or Netty's ReadTimeoutException from the response timeout.
            if (root instanceof TimeoutException || root.getClass().getSimpleName().contains("Timeout")) {
                return "no answer within " + callTimeout.toMillis() + "ms";
            }
            if (root.getCause() == null || root.getCause() == root) {
                break;
            }
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + (root.getMessage() == null ? "" : ": " + root.getMessage());
    }

    @Override
    public void close() {
        pool.dispose();
    }
}
