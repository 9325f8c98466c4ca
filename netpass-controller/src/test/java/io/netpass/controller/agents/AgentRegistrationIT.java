package io.netpass.controller.agents;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpMethod;

import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;
import io.netpass.controller.testing.SimulatedAgent;
import tools.jackson.databind.JsonNode;

/** Agents the controller only knows because they registered themselves: by name, after a move, after a restart. */
class AgentRegistrationIT {

    @TempDir
    Path directory;

    private ControllerLab lab;

    @BeforeEach
    void lab() throws Exception {
        lab = new ControllerLab(directory).withoutStaticAgents();
    }

    @AfterEach
    void close() {
        List<String> violations = lab.recorder().violations();
        lab.close();
        assertThat(violations).as("responses that break the contract").isEmpty();
    }

    /** A create request naming the agents by their registered names instead of their URLs. */
    private Map<String, Object> byName(String id, String vm, String source, String destination) {
        Map<String, Object> body = ControllerLab.migration(id, vm, lab.source, lab.destination);
        body.put("sourceAgent", source);
        body.put("destinationAgent", destination);
        return body;
    }

    @Test
    void aMigrationNamesRegisteredAgentsByNameAndKeepsTheirUrls() throws Exception {
        lab.start();
        assertThat(lab.create(byName("n-0", "vm-n0", "host-a", "host-b")).json().path("type").asString())
                .as("nobody registered yet").isEqualTo("urn:netpass:problem:unknown-agent");
        assertThat(lab.register(lab.source).status()).isEqualTo(200);
        assertThat(lab.register(lab.destination).status()).isEqualTo(200);

        RunningController.Response created = lab.create(byName("n-1", "vm-n1", "host-a", "host-b"));
        assertThat(created.status()).as("%s", created.body()).isEqualTo(202);
        assertThat(created.json().path("sourceAgent").asString()).isEqualTo(lab.source.baseUrl().toString());
        assertThat(created.json().path("destinationAgent").asString())
                .isEqualTo(lab.destination.baseUrl().toString());
        lab.awaitState("n-1", "ARMED");
        assertThat(lab.source.session("n-1.0", "source")).isPresent();
        assertThat(lab.destination.session("n-1.0", "destination")).isPresent();

        RunningController.Response unknown = lab.create(byName("n-2", "vm-n2", "host-a", "host-nobody"));
        assertThat(unknown.status()).isEqualTo(422);
        assertThat(unknown.json().path("detail").asString()).contains("host-nobody");
    }

    @Test
    void anAgentRegisteringAgainAtANewUrlReplacesItsOldOne() throws Exception {
        lab.start();
        lab.register(lab.source);
        SimulatedAgent moved = new SimulatedAgent("host-a", RunningController.AGENT_TOKEN,
                SimulatedAgent.Script.standard());
        try {
            JsonNode registered = lab.controller().call(HttpMethod.PUT, "/v1/agents/host-a",
                    Map.of("baseUrl", moved.baseUrl().toString()), RunningController.REGISTRATION_TOKEN, Map.of())
                    .json();
            assertThat(registered.path("baseUrl").asString()).isEqualTo(moved.baseUrl().toString());
            JsonNode agents = lab.controller().call(HttpMethod.GET, "/v1/agents", null).json().path("items");
            assertThat(agents).hasSize(1);
            assertThat(agents.get(0).path("baseUrl").asString()).isEqualTo(moved.baseUrl().toString());
            assertThat(agents.get(0).path("origin").asString()).isEqualTo("registered");
            assertThat(agents.get(0).path("stale").asBoolean()).isFalse();

            lab.register(lab.destination);
            lab.create(byName("n-3", "vm-n3", "host-a", "host-b"));
            lab.awaitState("n-3", "ARMED");
            assertThat(moved.session("n-3.0", "source")).as("armed at the new URL").isPresent();
            assertThat(lab.source.sessionCount()).as("nothing at the old one").isZero();
        } finally {
            moved.close();
        }
    }

    @Test
    void aRestartedControllerAdoptsTheMigrationOfAgentsAsSoonAsTheyRegisterAgain() throws Exception {
        // Recovery's own round comes only once an hour: only the agents' registration can start one.
        lab.property("netpass.controller.recovery.interval", "1h").start();
        lab.register(lab.source);
        lab.register(lab.destination);
        lab.create(byName("n-4", "vm-n4", "host-a", "host-b"));
        lab.awaitState("n-4", "ARMED");
        lab.stopController();
        lab.source.release("n-4.0");
        lab.destination.release("n-4.0");

        lab.start();
        assertThat(lab.get("n-4").status()).as("no agent known yet").isEqualTo(404);
        assertThat(lab.controller().call(HttpMethod.GET, "/v1/agents", null).json().path("items")).isEmpty();
        long registeredAt = System.nanoTime();
        lab.register(lab.source);
        lab.register(lab.destination);
        JsonNode done = lab.await("n-4", migration -> "COMPLETED".equals(migration.path("state").asString())
                && migration.path("settled").asBoolean(), Duration.ofSeconds(10));
        System.out.printf("adopted and settled %d ms after the agents registered again%n",
                Duration.ofNanos(System.nanoTime() - registeredAt).toMillis());
        assertThat(done.path("recovered").asBoolean()).isTrue();
        assertThat(done.path("report").path("framesSaved").asLong()).isEqualTo(42);
    }
}
