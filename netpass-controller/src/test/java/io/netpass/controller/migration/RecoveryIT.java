package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
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
import tools.jackson.databind.JsonNode;

/** The controller dies mid-migration; a new one takes over from the agents' sessions and finishes the job. */
class RecoveryIT {

    @TempDir
    Path directory;

    private ControllerLab lab;

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

    @Test
    void aNewControllerRebuildsTheMigrationFromTheAgentsAndCompletesItsReport() throws Exception {
        lab.start();
        lab.create(lab.migration("r-1", "vm-r1"));
        lab.awaitState("r-1", "ARMED");
        lab.stopController();

        // While no controller runs, the destination VM starts and the agents forward on their own.
        lab.source.release("r-1.0");
        lab.destination.release("r-1.0");

        lab.start();
        JsonNode done = lab.awaitFinal("r-1", "COMPLETED");
        assertThat(done.path("recovered").asBoolean()).isTrue();
        assertThat(done.path("vm").asString()).isEqualTo("unknown");
        assertThat(done.path("sourceAgent").asString()).isEqualTo(lab.source.baseUrl().toString());
        assertThat(done.path("nics").get(0).path("sourceTap").asString()).isEqualTo("tap0");
        JsonNode report = done.path("report");
        assertThat(report.path("final").asBoolean()).isTrue();
        assertThat(report.path("framesSaved").asLong()).isEqualTo(42);
        assertThat(report.path("injectedFrames").asLong()).isEqualTo(42);
        assertThat(report.path("dropped").path("buffer-full").asLong()).isEqualTo(1);
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
    }

    @Test
    void withAStateDirectoryTheRebuiltMigrationKeepsItsVmAndStillBlocksASecondOne() throws Exception {
        Path state = directory.resolve("state");
        lab.property("netpass.controller.recovery.state-directory", state.toString()).start();
        lab.create(lab.migration("r-2", "vm-r2"));
        lab.awaitState("r-2", "ARMED");
        assertThat(Files.exists(state.resolve("r-2.json"))).isTrue();
        lab.stopController();

        lab.start();
        JsonNode rebuilt = lab.awaitState("r-2", "ARMED");
        assertThat(rebuilt.path("recovered").asBoolean()).isTrue();
        assertThat(rebuilt.path("vm").asString()).isEqualTo("vm-r2");
        assertThat(rebuilt.path("nics").get(0).path("mac").asString()).isEqualTo("52:54:00:12:34:56");
        assertThat(lab.create(lab.migration("r-3", "vm-r2")).status()).isEqualTo(409);
        // A retried create after the restart finds the same migration.
        assertThat(lab.create(lab.migration("r-2", "vm-r2")).status()).isEqualTo(200);

        lab.event("r-2", "DESTINATION_RESUMED");
        JsonNode done = lab.awaitFinal("r-2", "COMPLETED");
        assertThat(done.path("report").path("framesSaved").asLong()).isEqualTo(42);
        long deadline = System.currentTimeMillis() + 5000;
        while (Files.exists(state.resolve("r-2.json")) && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        assertThat(state.resolve("r-2.json")).doesNotExist();
    }

    @Test
    void withAStateDirectoryTheOrchestratorsEventsSurviveARestart() throws Exception {
        Path state = directory.resolve("state");
        lab.property("netpass.controller.recovery.state-directory", state.toString()).start();
        lab.create(lab.migration("r-5", "vm-r5"));
        lab.awaitState("r-5", "ARMED");
        lab.source.autoComplete(false);
        lab.destination.autoComplete(false);
        lab.event("r-5", "SOURCE_PAUSED");
        lab.event("r-5", "DESTINATION_RESUMED");
        JsonNode before = lab.awaitState("r-5", "SWITCHING");
        assertThat(before.path("events").findValuesAsString("type"))
                .containsExactly("SOURCE_PAUSED", "DESTINATION_RESUMED");
        // The file is written off the request's thread: wait until it holds both events.
        long deadline = System.currentTimeMillis() + 5000;
        while (!Files.readString(state.resolve("r-5.json")).contains("DESTINATION_RESUMED")
                && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        lab.stopController();

        lab.start();
        JsonNode rebuilt = lab.awaitState("r-5", "SWITCHING");
        assertThat(rebuilt.path("recovered").asBoolean()).isTrue();
        assertThat(rebuilt.path("events")).as("%s", rebuilt).isEqualTo(before.path("events"));
        String stream = lab.controller().client().get().uri("/v1/migrations/r-5/events")
                .header("Authorization", "Bearer " + RunningController.CALLER_TOKEN)
                .retrieve().bodyToFlux(String.class).take(1).blockLast(Duration.ofSeconds(5));
        assertThat(stream).contains("\"SOURCE_PAUSED\"", "\"DESTINATION_RESUMED\"");

        lab.event("r-5", "COMPLETED");
        lab.source.complete("r-5.0");
        lab.destination.complete("r-5.0");
        JsonNode done = lab.awaitFinal("r-5", "COMPLETED");
        assertThat(done.path("events").findValuesAsString("type"))
                .containsExactly("SOURCE_PAUSED", "DESTINATION_RESUMED", "COMPLETED");
    }

    @Test
    void withAStateDirectoryAFinishedMigrationIsServedWithTheSameReportAfterARestartAndNeverTouchedAgain()
            throws Exception {
        Path state = directory.resolve("state");
        lab.property("netpass.controller.recovery.state-directory", state.toString()).start();
        RunningController.Response created = lab.controller().call(HttpMethod.POST, "/v1/migrations",
                lab.migration(null, "vm-r6"), RunningController.CALLER_TOKEN, Map.of("Idempotency-Key", "r-6-key"));
        assertThat(created.status()).isEqualTo(202);
        String id = created.json().path("id").asString();
        lab.awaitState(id, "ARMED");
        lab.event(id, "DESTINATION_RESUMED");
        JsonNode done = lab.awaitFinal(id, "COMPLETED");
        assertThat(done.path("report").path("framesSaved").asLong()).isEqualTo(42);
        Path kept = state.resolve("finished").resolve(id + ".json");
        long deadline = System.currentTimeMillis() + 5000;
        while (!Files.exists(kept) && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        assertThat(state.resolve(id + ".json")).doesNotExist();
        // A file no controller could have written completely is skipped, not fatal.
        Files.writeString(state.resolve("finished").resolve("broken.json"), "{\"format\":1,\"migration\":{");
        lab.stopController();
        int sourceRequests = lab.source.requests().size();
        int destinationRequests = lab.destination.requests().size();

        lab.start();
        RunningController.Response after = lab.get(id);
        assertThat(after.status()).isEqualTo(200);
        assertThat(after.json()).as("the migration as it was before the restart").isEqualTo(done);
        assertThat(ids(lab.controller().call(HttpMethod.GET, "/v1/migrations?active=false&vm=vm-r6", null)))
                .containsExactly(id);
        assertThat(ids(lab.controller().call(HttpMethod.GET, "/v1/migrations?state=COMPLETED&host=host-a", null)))
                .containsExactly(id);
        assertThat(ids(lab.controller().call(HttpMethod.GET, "/v1/migrations?active=true", null))).isEmpty();
        // A retry with the same key after the restart still finds it.
        RunningController.Response retried = lab.controller().call(HttpMethod.POST, "/v1/migrations",
                lab.migration(null, "vm-r6"), RunningController.CALLER_TOKEN, Map.of("Idempotency-Key", "r-6-key"));
        assertThat(retried.status()).isEqualTo(200);
        assertThat(retried.json().path("id").asString()).isEqualTo(id);
        // Its state stream shows it once and ends.
        List<String> stream = lab.controller().client().get().uri("/v1/migrations/" + id + "/events")
                .header("Authorization", "Bearer " + RunningController.CALLER_TOKEN)
                .retrieve().bodyToFlux(String.class).collectList().block(Duration.ofSeconds(5));
        assertThat(stream).hasSize(1);
        assertThat(stream.getFirst()).contains("\"settled\":true", "\"framesSaved\":42");

        // A few recovery rounds later no agent was asked about it: neither armed, read nor disarmed again.
        Thread.sleep(1500);
        List<String> sourceAfter = lab.source.requests().subList(sourceRequests, lab.source.requests().size());
        List<String> destinationAfter = lab.destination.requests()
                .subList(destinationRequests, lab.destination.requests().size());
        assertThat(sourceAfter).as("recovery rounds read the agents").isNotEmpty();
        assertThat(sourceAfter).noneMatch(request -> request.contains(id));
        assertThat(destinationAfter).noneMatch(request -> request.contains(id));
        assertThat(lab.get(id).json()).isEqualTo(done);
    }

    private static List<String> ids(RunningController.Response page) {
        assertThat(page.status()).isEqualTo(200);
        return page.json().path("items").findValuesAsString("id");
    }

    @Test
    void sessionsOfAFinishedMigrationLeftOnAnAgentAreDisarmed() throws Exception {
        lab.start();
        lab.create(lab.migration("r-4", "vm-r4"));
        lab.awaitState("r-4", "ARMED");
        // The destination agent is away while the migration is cancelled: its side stays armed.
        lab.destination.answerAfter(java.time.Duration.ofSeconds(2));
        lab.controller().call(org.springframework.http.HttpMethod.DELETE, "/v1/migrations/r-4", null);
        lab.awaitFinal("r-4", "CANCELLED");
        assertThat(lab.destination.sessionCount()).isEqualTo(1);
        lab.destination.answerAfter(java.time.Duration.ZERO);
        long deadline = System.currentTimeMillis() + 5000;
        while (lab.destination.sessionCount() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        assertThat(lab.destination.sessionCount()).isZero();
    }
}
