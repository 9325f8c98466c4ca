package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.netpass.controller.testing.ControllerLab;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A restarted controller reports itself ready only once it has taken over what the agents hold (or a timeout
 * passed): an orchestrator or a Service routing to it before then would see migrations it does not know yet.
 */
class RecoveryReadinessIT {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path directory;

    private ControllerLab lab;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void lab() throws Exception {
        lab = new ControllerLab(directory);
    }

    @AfterEach
    void close() {
        List<String> violations = lab.recorder().violations();
        lab.close();
        assertThat(violations).as("responses that break the contract").isEmpty();
    }

    /** The readiness probe's status code and body. */
    private record Probe(int status, JsonNode body) {

        /** What the readiness indicator says about recovery. */
        JsonNode details() {
            return body.path("components").path("readinessState").path("details");
        }
    }

    private Probe readiness() throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                URI.create(lab.controller().managementUrl() + "/actuator/health/readiness"))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        return new Probe(response.statusCode(), JSON.readTree(response.body()));
    }

    private Probe awaitReady(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Probe probe = readiness();
        while (probe.status() != 200 && System.nanoTime() < deadline) {
            Thread.sleep(50);
            probe = readiness();
        }
        return probe;
    }

    @Test
    void aRestartedControllerIsNotReadyUntilItHasReadTheAgentsAndAdoptedTheirMigration() throws Exception {
        lab.property("netpass.controller.agent-calls.response-timeout", "5s").start();
        lab.create(lab.migration("rr-1", "vm-rr1"));
        lab.awaitState("rr-1", "ARMED");
        lab.stopController();

        // The destination agent is slow to list its sessions: recovery takes four seconds.
        lab.destination.answerAfter(Duration.ofSeconds(4));
        long started = System.nanoTime();
        lab.start();
        Probe during = readiness();
        assertThat(during.status()).as("%s", during.body()).isEqualTo(503);
        assertThat(during.body().path("status").asString()).isEqualTo("OUT_OF_SERVICE");
        assertThat(during.details().path("recovery").asString()).isEqualTo("RECOVERING");
        assertThat(lab.get("rr-1").status()).as("not adopted yet").isEqualTo(404);

        Probe ready = awaitReady(Duration.ofSeconds(15));
        long readyAfter = Duration.ofNanos(System.nanoTime() - started).toMillis();
        assertThat(ready.status()).as("%s", ready.body()).isEqualTo(200);
        assertThat(ready.details().path("recovery").asString()).isEqualTo("RECOVERED");
        assertThat(ready.details().path("agentsNotRead")).isEmpty();
        assertThat(readyAfter).as("ready after the slow agent answered").isGreaterThanOrEqualTo(4000);
        JsonNode adopted = lab.get("rr-1").json();
        assertThat(adopted.path("recovered").asBoolean()).isTrue();
        assertThat(adopted.path("state").asString()).isEqualTo("ARMED");
    }

    @Test
    void anAgentTooSlowForTheReadinessTimeoutIsListedAndTheControllerBecomesReadyAnyway() throws Exception {
        lab.destination.answerAfter(Duration.ofSeconds(12));
        long started = System.nanoTime();
        lab.property("netpass.controller.agent-calls.response-timeout", "15s")
                .property("netpass.controller.recovery.readiness-timeout", "3s").start();

        Probe ready = awaitReady(Duration.ofSeconds(10));
        long readyAfter = Duration.ofNanos(System.nanoTime() - started).toMillis();
        assertThat(ready.status()).as("%s", ready.body()).isEqualTo(200);
        assertThat(readyAfter).as("after the timeout, well before the slow agent answers").isBetween(3000L, 10000L);
        assertThat(ready.details().path("recovery").asString()).isEqualTo("TIMED_OUT");
        assertThat(ready.details().path("agentsNotRead").get(0).asString())
                .isEqualTo(lab.destination.baseUrl().toString());
        assertThat(ready.details().path("agentsNotRead")).hasSize(1);
    }
}
