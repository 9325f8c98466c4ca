package io.netpass.controller.testing;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.jspecify.annotations.Nullable;

import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.resources.LoopResources;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A stand-in for a netpass agent: a real Reactor Netty HTTP server on loopback implementing the endpoints of
 * openapi/netpass-agent.yaml that the controller calls, with sessions that behave like the agent's. What the data
 * path would do is scripted: arming keeps {@link Script#keptFrames} frames; once the side is released (the test says
 * the VM runs, or the controller forwards DESTINATION_RESUMED) it forwards or injects for
 * {@link Script#forwardingTime} and completes with counters the test can predict.
 */
public final class SimulatedAgent implements AutoCloseable {

    /**
     * What the simulated data path does.
     *
     * @param keptFrames frames kept on the source while armed (the paused VM's unread frames)
     * @param framesAfterRelease frames that reach the source tap after release and are forwarded too
     * @param droppedBufferFull frames the source could not keep (reported as dropped.buffer-full)
     * @param forwardingTime from release until both sides complete
     */
    public record Script(long keptFrames, long framesAfterRelease, long droppedBufferFull, Duration forwardingTime) {

        public static Script standard() {
            return new Script(40, 2, 1, Duration.ofMillis(150));
        }

        public long forwarded() {
            return keptFrames + framesAfterRelease;
        }
    }

    /** One side, as the agent would report it. */
    public static final class Session {
        final String migrationId;
        final String role;
        final String tap;
        final @Nullable String namespace;
        final @Nullable String sourceAgent;
        final List<String> vmMacs;
        final Instant armedAt = Instant.now();
        volatile String state = "armed";
        volatile @Nullable Instant releasedAt;
        volatile @Nullable String failure;
        final Map<String, Long> counters = new ConcurrentHashMap<>();
        final Map<String, Long> timings = new ConcurrentHashMap<>();

        Session(String migrationId, String role, String tap, @Nullable String namespace,
                @Nullable String sourceAgent, List<String> vmMacs) {
            this.migrationId = migrationId;
            this.role = role;
            this.tap = tap;
            this.namespace = namespace;
            this.sourceAgent = sourceAgent;
            this.vmMacs = vmMacs;
        }

        public String state() {
            return state;
        }

        /** The agents' session id, {@code MIGRATION.NIC}. */
        public String migrationId() {
            return migrationId;
        }

        public @Nullable String sourceAgent() {
            return sourceAgent;
        }

        public String tap() {
            return tap;
        }

        public @Nullable String namespace() {
            return namespace;
        }

        public List<String> vmMacs() {
            return vmMacs;
        }

        Map<String, Object> document() {
            Map<String, Object> document = new LinkedHashMap<>();
            document.put("migrationId", migrationId);
            document.put("role", role);
            document.put("state", state);
            document.put("tap", tap);
            document.put("namespace", namespace);
            document.put("armedAt", armedAt.toString());
            document.put("releasedAt", releasedAt == null ? null : releasedAt.toString());
            document.put("failure", failure);
            document.put("exact", true);
            document.put("counters", new java.util.TreeMap<>(counters));
            document.put("timings", new java.util.TreeMap<>(timings));
            return document;
        }
    }

    private record Key(String migrationId, String role) {
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final String name;
    private final String token;
    private final Script script;
    private final ConcurrentMap<Key, Session> sessions = new ConcurrentHashMap<>();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger disarms = new AtomicInteger();
    private volatile int armFailureStatus;
    private volatile Duration answerDelay = Duration.ZERO;
    private volatile boolean autoComplete = true;
    /** What {@code POST /v1/discovery} finds, by the request's JSON body. */
    private final ConcurrentMap<JsonNode, Map<String, Object>> vms = new ConcurrentHashMap<>();
    private final int port;
    /** Open connections, closed on stop: a stopped agent must not keep answering on kept-alive connections. */
    private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private @Nullable DisposableServer server;
    private final LoopResources loops;

    public SimulatedAgent(String name, String token, Script script) {
        this(name, token, script, 0);
    }

    private SimulatedAgent(String name, String token, Script script, int port) {
        this.name = name;
        this.token = token;
        this.script = script;
        // Event loops of its own: a controller context closing in the same JVM disposes Reactor Netty's global ones.
        this.loops = LoopResources.create("simulated-" + name, 1, true);
        this.server = HttpServer.create().runOn(loops).host("127.0.0.1").port(port).channelGroup(connections)
                .route(routes -> routes
                        .put("/v1/migrations/{id}/{role}", this::arm)
                        .get("/v1/migrations/{id}/{role}", this::get)
                        .delete("/v1/migrations/{id}/{role}", this::disarm)
                        .post("/v1/migrations/{id}/events", this::event)
                        .get("/v1/sessions", this::list)
                        .post("/v1/discovery", this::discover))
                .bindNow();
        this.port = server.port();
    }

    public String name() {
        return name;
    }

    public URI baseUrl() {
        return URI.create("http://127.0.0.1:" + port);
    }

    /** Arming answers with this status (a problem) from now on; 0 to arm normally. */
    public void failArming(int status) {
        armFailureStatus = status;
    }

    /** Every answer comes this late. */
    public void answerAfter(Duration delay) {
        answerDelay = delay;
    }

    /** Whether released sides complete by themselves after the script's forwarding time. */
    public void autoComplete(boolean enabled) {
        autoComplete = enabled;
    }

    /**
     * Makes this agent's host run libvirt domain {@code domain} (also KubeVirt VMI {@code NAMESPACE/NAME} if the
     * domain is {@code NAMESPACE_NAME}) as QEMU {@code qemuPid} with {@code nics}: each a MAC, tap and namespace.
     */
    public void runs(String domain, int qemuPid, List<Map<String, String>> nics) {
        Map<String, Object> found = Map.of("qemuPid", qemuPid, "nics", nics);
        vms.put(JSON.valueToTree(Map.of("libvirtDomain", domain)), found);
        int split = domain.indexOf('_');
        if (split > 0) {
            vms.put(JSON.valueToTree(Map.of("kubevirtVmi", Map.of("namespace", domain.substring(0, split),
                    "name", domain.substring(split + 1)))), found);
        }
    }

    /** Stops answering: the port is closed, so connections are refused. */
    public void stop() {
        DisposableServer running = server;
        if (running != null) {
            running.disposeNow(Duration.ofSeconds(2));
            connections.close().awaitUninterruptibly(2000);
            server = null;
        }
    }

    /** The agent process restarts on the same port with its sessions gone, as a real agent's would be. */
    public SimulatedAgent restartEmpty() {
        close();
        return new SimulatedAgent(name, token, script, port);
    }

    /** Sessions of a migration, whatever its NIC index: {@code ID.N}. */
    public List<Session> sessionsOf(String migrationId) {
        return sessions.values().stream().filter(session -> session.migrationId.startsWith(migrationId + "."))
                .toList();
    }

    public Optional<Session> session(String sessionId, String role) {
        return Optional.ofNullable(sessions.get(new Key(sessionId, role)));
    }

    public int sessionCount() {
        return sessions.size();
    }

    public int disarms() {
        return disarms.get();
    }

    /** {@code METHOD path} of every request, oldest first. */
    public List<String> requests() {
        return List.copyOf(requests);
    }

    /**
     * This side sees the switchover: a destination its VM running (and pulls), a source the first pull. The side
     * forwards and completes after the script's forwarding time unless auto-completion is off.
     */
    public void release(String sessionId) {
        for (String role : List.of("source", "destination")) {
            Session session = sessions.get(new Key(sessionId, role));
            if (session != null && "armed".equals(session.state)) {
                session.state = "forwarding";
                session.releasedAt = Instant.now();
                if (autoComplete) {
                    Mono.delay(script.forwardingTime()).subscribe(tick -> complete(sessionId));
                }
            }
        }
    }

    /** This agent's sides of the session finish forwarding with the script's counters. */
    public void complete(String sessionId) {
        Session source = sessions.get(new Key(sessionId, "source"));
        if (source != null && !finished(source)) {
            source.counters.put("keptFrames", 0L);
            source.counters.put("forwardedFrames", script.forwarded());
            source.counters.put("forwardedBytes", script.forwarded() * 100);
            source.counters.put("capturedFrames", script.forwarded() + 500);
            source.counters.put("dropped.buffer-full", script.droppedBufferFull());
            source.state = "completed";
        }
        Session destination = sessions.get(new Key(sessionId, "destination"));
        if (destination != null && !finished(destination)) {
            destination.counters.put("injectedFrames", script.forwarded());
            destination.counters.put("injectedBytes", script.forwarded() * 100);
            destination.timings.put("releaseToFirstInjectionMicros", 120L);
            destination.timings.put("releaseToBurstInjectedMicros", 900L);
            destination.state = "completed";
        }
    }

    private static boolean finished(Session session) {
        return switch (session.state) {
            case "completed", "aborted", "failed" -> true;
            default -> false;
        };
    }

    private Mono<Void> arm(HttpServerRequest request, HttpServerResponse response) {
        String id = request.param("id");
        String role = request.param("role");
        return guarded(request, response, () -> request.receive().aggregate().asString().defaultIfEmpty("{}")
                .flatMap(text -> {
                    if (armFailureStatus != 0) {
                        return problem(response, armFailureStatus, "simulated arming failure");
                    }
                    JsonNode body = JSON.readTree(text);
                    List<String> macs = new ArrayList<>();
                    body.path("vmMacs").forEach(mac -> macs.add(mac.asString()));
                    Session session = sessions.computeIfAbsent(new Key(id, role), key -> {
                        Session created = new Session(id, role, body.path("tap").asString(),
                                body.path("namespace").isString() ? body.path("namespace").asString() : null,
                                body.path("sourceAgent").isString() ? body.path("sourceAgent").asString() : null,
                                macs);
                        if ("source".equals(role)) {
                            created.counters.put("keptFrames", script.keptFrames());
                            created.counters.put("forwardedFrames", 0L);
                        } else {
                            created.counters.put("injectedFrames", 0L);
                            created.timings.put("releaseToFirstInjectionMicros", -1L);
                            created.timings.put("releaseToBurstInjectedMicros", -1L);
                        }
                        return created;
                    });
                    return json(response, 200, session.document());
                }));
    }

    private Mono<Void> get(HttpServerRequest request, HttpServerResponse response) {
        return guarded(request, response, () -> {
            Session session = sessions.get(new Key(request.param("id"), request.param("role")));
            return session == null ? problem(response, 404, "no such session") : json(response, 200, session.document());
        });
    }

    private Mono<Void> disarm(HttpServerRequest request, HttpServerResponse response) {
        return guarded(request, response, () -> {
            Session session = sessions.remove(new Key(request.param("id"), request.param("role")));
            if (session == null) {
                return problem(response, 404, "no such session");
            }
            disarms.incrementAndGet();
            return response.status(204).send();
        });
    }

    private Mono<Void> event(HttpServerRequest request, HttpServerResponse response) {
        String id = request.param("id");
        return guarded(request, response, () -> request.receive().aggregate().asString().flatMap(text -> {
            String type = JSON.readTree(text).path("type").asString();
            Session source = sessions.get(new Key(id, "source"));
            Session destination = sessions.get(new Key(id, "destination"));
            if (source == null && destination == null) {
                return problem(response, 404, "no such session");
            }
            switch (type) {
                case "DESTINATION_RESUMED" -> release(id);
                case "FAILED" -> {
                    for (Session session : java.util.Arrays.asList(source, destination)) {
                        if (session != null && !finished(session)) {
                            session.state = "aborted";
                            session.failure = "migration failed";
                        }
                    }
                }
                default -> { }
            }
            return response.status(202).send();
        }));
    }

    private Mono<Void> discover(HttpServerRequest request, HttpServerResponse response) {
        return guarded(request, response, () -> request.receive().aggregate().asString().flatMap(text -> {
            Map<String, Object> found = vms.get(JSON.readTree(text));
            return found == null ? problem(response, 404, "no QEMU process on this host runs " + text)
                    : json(response, 200, found);
        }));
    }

    private Mono<Void> list(HttpServerRequest request, HttpServerResponse response) {
        return guarded(request, response, () -> json(response, 200,
                sessions.values().stream().map(Session::document).toList()));
    }

    private Mono<Void> guarded(HttpServerRequest request, HttpServerResponse response,
            java.util.function.Supplier<Mono<Void>> handler) {
        requests.add(request.method().name() + " " + request.uri());
        String authorization = request.requestHeaders().get("Authorization");
        Mono<Void> answer = ("Bearer " + token).equals(authorization) ? Mono.defer(handler)
                : problem(response, 401, "unknown token");
        return answerDelay.isZero() ? answer : Mono.delay(answerDelay).then(answer);
    }

    private static Mono<Void> json(HttpServerResponse response, int status, Object body) {
        return response.status(status).header("Content-Type", "application/json")
                .sendString(Mono.just(JSON.writeValueAsString(body))).then();
    }

    private static Mono<Void> problem(HttpServerResponse response, int status, String detail) {
        Map<String, Object> problem = Map.of("type", "about:blank",
                "title", HttpResponseStatus.valueOf(status).reasonPhrase(), "status", status, "detail", detail);
        return response.status(status).header("Content-Type", "application/problem+json")
                .sendString(Mono.just(JSON.writeValueAsString(problem))).then();
    }

    @Override
    public void close() {
        stop();
        loops.disposeLater().block(Duration.ofSeconds(5));
    }
}
