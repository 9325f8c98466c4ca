package io.netpass.controller.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import org.jspecify.annotations.Nullable;
import org.springframework.http.HttpMethod;

import io.netpass.controller.contract.ContractRecorder;
import io.netpass.controller.contract.OpenApiContract;
import tools.jackson.databind.JsonNode;

/**
 * Two simulated agents (source host {@code host-a}, destination host {@code host-b}) and a controller that knows
 * them; every response the tests see is checked against openapi/netpass-controller.yaml.
 */
public final class ControllerLab implements AutoCloseable {

    private final Path directory;
    private final OpenApiContract contract;
    private final ContractRecorder recorder;
    private final Map<String, Object> extraProperties = new LinkedHashMap<>();
    public SimulatedAgent source;
    public SimulatedAgent destination;
    private final List<SimulatedAgent> extraAgents = new ArrayList<>();
    private boolean staticAgents = true;
    private @Nullable RunningController controller;

    public ControllerLab(Path directory) throws IOException {
        this.directory = directory;
        this.contract = OpenApiContract.load(OpenApiContract.find("openapi/netpass-controller.yaml"));
        this.recorder = new ContractRecorder(contract);
        this.source = new SimulatedAgent("host-a", RunningController.AGENT_TOKEN, SimulatedAgent.Script.standard());
        this.destination = new SimulatedAgent("host-b", RunningController.AGENT_TOKEN,
                SimulatedAgent.Script.standard());
    }

    /** An agent the controller is configured with but that is not listening. */
    public SimulatedAgent addStoppedAgent(String name) {
        SimulatedAgent agent = new SimulatedAgent(name, RunningController.AGENT_TOKEN, SimulatedAgent.Script.standard());
        agent.stop();
        extraAgents.add(agent);
        return agent;
    }

    public ControllerLab property(String key, Object value) {
        extraProperties.put(key, value);
        return this;
    }

    /** The controller is configured with no agent: they must register ({@link #register}). */
    public ControllerLab withoutStaticAgents() {
        staticAgents = false;
        return this;
    }

    public RunningController start() throws IOException {
        List<SimulatedAgent> agents = new ArrayList<>();
        if (staticAgents) {
            agents.addAll(List.of(source, destination));
            agents.addAll(extraAgents);
        }
        Map<String, Object> properties = RunningController.testProperties(directory, agents);
        properties.putAll(extraProperties);
        controller = RunningController.start(properties, recorder);
        return controller;
    }

    public RunningController controller() {
        if (controller == null) {
            throw new IllegalStateException("not started");
        }
        return controller;
    }

    /** Stops the controller, as a crash would: agents keep their sessions. */
    public void stopController() {
        if (controller != null) {
            controller.close();
            controller = null;
        }
    }

    public OpenApiContract contract() {
        return contract;
    }

    public ContractRecorder recorder() {
        return recorder;
    }

    public Path directory() {
        return directory;
    }

    /** A create request for a one-NIC VM from {@code source} to {@code destination}. */
    public Map<String, Object> migration(@Nullable String id, String vm) {
        return migration(id, vm, source, destination);
    }

    public static Map<String, Object> migration(@Nullable String id, String vm, SimulatedAgent from,
            SimulatedAgent to) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (id != null) {
            body.put("id", id);
        }
        body.put("vm", vm);
        body.put("sourceAgent", from.baseUrl().toString());
        body.put("destinationAgent", to.baseUrl().toString());
        body.put("nics", List.of(Map.of("mac", "52:54:00:12:34:56", "sourceTap", "tap0",
                "sourceNamespace", "/run/netns/host-a", "destinationTap", "tap1",
                "destinationNamespace", "/run/netns/host-b")));
        return body;
    }

    /** Registers {@code agent} under its name as an agent would, with the agent registration token. */
    public RunningController.Response register(SimulatedAgent agent) {
        return controller().call(HttpMethod.PUT, "/v1/agents/" + agent.name(),
                Map.of("baseUrl", agent.baseUrl().toString()), RunningController.REGISTRATION_TOKEN, Map.of());
    }

    public RunningController.Response create(Map<String, Object> body) {
        return controller().call(HttpMethod.POST, "/v1/migrations", body);
    }

    public RunningController.Response get(String id) {
        return controller().call(HttpMethod.GET, "/v1/migrations/" + id, null);
    }

    public RunningController.Response event(String id, String type) {
        return controller().call(HttpMethod.POST, "/v1/migrations/" + id + "/events", Map.of("type", type));
    }

    /** Polls the migration until {@code condition} holds; fails with its last state otherwise. */
    public JsonNode await(String id, Predicate<JsonNode> condition, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            RunningController.Response response = get(id);
            if (response.status() == 200) {
                last = response.json();
                if (condition.test(last)) {
                    return last;
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("migration " + id + " did not get there in " + timeout + "; last: " + last);
    }

    public JsonNode awaitState(String id, String state) {
        return await(id, migration -> state.equals(migration.path("state").asString()), Duration.ofSeconds(10));
    }

    /** A finished migration whose agents were disarmed: nothing about it changes any more. */
    public JsonNode awaitFinal(String id, String state) {
        return await(id, migration -> state.equals(migration.path("state").asString())
                && migration.path("settled").asBoolean(false), Duration.ofSeconds(10));
    }

    @Override
    public void close() {
        stopController();
        source.close();
        destination.close();
        extraAgents.forEach(SimulatedAgent::close);
    }
}
