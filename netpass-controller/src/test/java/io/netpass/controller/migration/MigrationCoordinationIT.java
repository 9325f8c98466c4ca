package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;

import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;
import io.netpass.controller.testing.SimulatedAgent;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class MigrationCoordinationIT {

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
    void createArmsBothAgentsAndTheReportComesFromTheirCounters() throws Exception {
        lab.start();
        RunningController.Response created = lab.create(lab.migration("m-1", "vm-1"));
        assertThat(created.status()).isEqualTo(202);
        assertThat(created.headers().getFirst(HttpHeaders.LOCATION)).isEqualTo("/v1/migrations/m-1");
        lab.awaitState("m-1", "ARMED");

        SimulatedAgent.Session destination = lab.destination.session("m-1.0", "destination").orElseThrow();
        assertThat(destination.sourceAgent()).isEqualTo(lab.source.baseUrl().toString());
        assertThat(lab.source.session("m-1.0", "source")).isPresent();

        // The destination agent sees its VM run and pulls, which releases the source.
        lab.destination.release("m-1.0");
        lab.source.release("m-1.0");
        JsonNode done = lab.awaitFinal("m-1", "COMPLETED");

        JsonNode report = done.path("report");
        assertThat(report.path("final").asBoolean()).isTrue();
        assertThat(report.path("framesSaved").asLong()).isEqualTo(42);
        assertThat(report.path("forwardedFrames").asLong()).isEqualTo(42);
        assertThat(report.path("injectedFrames").asLong()).isEqualTo(42);
        assertThat(report.path("keptFrames").asLong()).isEqualTo(40);
        assertThat(report.path("dropped").path("buffer-full").asLong()).isEqualTo(1);
        assertThat(report.path("droppedFrames").asLong()).isEqualTo(1);
        assertThat(report.path("releaseToFirstInjectionMicros").asLong()).isEqualTo(120);
        assertThat(report.path("releaseToBurstInjectedMicros").asLong()).isEqualTo(900);
        assertThat(report.path("exact").asBoolean()).isTrue();
        assertThat(done.path("armedAt").isMissingNode()).isFalse();
        assertThat(done.path("switchingAt").isMissingNode()).isFalse();
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
    }

    @Test
    void destinationResumedIsForwardedToTheAgentsAndTheMigrationCompletes() throws Exception {
        lab.start();
        lab.create(lab.migration("m-2", "vm-2"));
        lab.awaitState("m-2", "ARMED");

        RunningController.Response event = lab.event("m-2", "DESTINATION_RESUMED");
        assertThat(event.status()).isEqualTo(202);
        assertThat(event.json().path("state").asString()).isEqualTo("SWITCHING");
        lab.awaitFinal("m-2", "COMPLETED");
        assertThat(lab.destination.requests()).contains("POST /v1/migrations/m-2.0/events");
        assertThat(lab.source.requests()).contains("POST /v1/migrations/m-2.0/events");
    }

    @Test
    void repeatingACreateReturnsTheSameMigration() throws Exception {
        lab.start();
        assertThat(lab.create(lab.migration("m-3", "vm-3")).status()).isEqualTo(202);
        RunningController.Response again = lab.create(lab.migration("m-3", "vm-3"));
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.json().path("id").asString()).isEqualTo("m-3");
        RunningController.Response different = lab.create(lab.migration("m-3", "vm-other"));
        assertThat(different.status()).isEqualTo(409);
        assertThat(different.json().path("type").asString()).isEqualTo("urn:netpass:problem:migration-conflict");

        Map<String, String> key = Map.of("Idempotency-Key", "hook-7f3a");
        RunningController.Response first = lab.controller().call(HttpMethod.POST, "/v1/migrations",
                lab.migration(null, "vm-4"), RunningController.CALLER_TOKEN, key);
        RunningController.Response second = lab.controller().call(HttpMethod.POST, "/v1/migrations",
                lab.migration(null, "vm-4"), RunningController.CALLER_TOKEN, key);
        assertThat(first.status()).isEqualTo(202);
        assertThat(second.status()).isEqualTo(200);
        assertThat(second.json().path("id").asString()).isEqualTo(first.json().path("id").asString());
        assertThat(second.json().path("idempotencyKey").asString()).isEqualTo("hook-7f3a");
        assertThat(lab.source.sessionCount()).isEqualTo(2);
    }

    @Test
    void aVmAlreadyMigratingIsAConflict() throws Exception {
        lab.start();
        lab.create(lab.migration("m-5", "vm-5"));
        RunningController.Response second = lab.create(lab.migration("m-6", "vm-5"));
        assertThat(second.status()).isEqualTo(409);
        assertThat(second.isProblem()).isTrue();
        assertThat(second.json().path("type").asString()).isEqualTo("urn:netpass:problem:vm-already-migrating");

        // Once the first one finished, the VM may migrate again.
        lab.controller().call(HttpMethod.DELETE, "/v1/migrations/m-5", null);
        assertThat(lab.create(lab.migration("m-6", "vm-5")).status()).isEqualTo(202);
    }

    @Test
    void anUnreachableAgentDegradesTheMigrationAndTheApiStillAnswersAtOnce() throws Exception {
        SimulatedAgent gone = lab.addStoppedAgent("host-c");
        lab.start();
        RunningController.Response created = lab.create(ControllerLab.migration("m-7", "vm-7", lab.source, gone));
        assertThat(created.status()).isEqualTo(202);
        assertThat(created.took()).isLessThan(Duration.ofMillis(1500));
        JsonNode degraded = lab.awaitFinal("m-7", "DEGRADED");
        assertThat(degraded.path("reason").asString()).contains("arming failed").contains(gone.baseUrl().toString());
        // The side that did arm is disarmed: netpass steps aside completely.
        assertThat(lab.source.sessionCount()).isZero();
    }

    @Test
    void aSlowAgentNeverHoldsUpTheApi() throws Exception {
        lab.start();
        lab.destination.answerAfter(Duration.ofSeconds(3));
        RunningController.Response created = lab.create(lab.migration("m-8", "vm-8"));
        // agent-wait is 300ms: the answer comes then, with arming still under way.
        assertThat(created.status()).isEqualTo(202);
        assertThat(created.took()).isLessThan(Duration.ofMillis(1000));
        assertThat(created.json().path("state").asString()).isEqualTo("PENDING");
        RunningController.Response read = lab.get("m-8");
        assertThat(read.took()).isLessThan(Duration.ofMillis(500));
        JsonNode degraded = lab.awaitState("m-8", "DEGRADED");
        assertThat(degraded.path("reason").asString()).contains("no answer within");
    }

    @Test
    void anAgentRefusingToArmDegradesTheMigrationWithItsReason() throws Exception {
        lab.start();
        lab.destination.failArming(422);
        lab.create(lab.migration("m-9", "vm-9"));
        JsonNode degraded = lab.awaitFinal("m-9", "DEGRADED");
        assertThat(degraded.path("reason").asString()).contains("HTTP 422").contains("simulated arming failure");
        assertThat(lab.source.sessionCount()).isZero();
    }

    @Test
    void aFailedMigrationAbortsBothSidesAndDisarmsThem() throws Exception {
        lab.start();
        lab.create(lab.migration("m-10", "vm-10"));
        lab.awaitState("m-10", "ARMED");
        RunningController.Response failed = lab.event("m-10", "FAILED");
        assertThat(failed.status()).isEqualTo(202);
        assertThat(failed.json().path("state").asString()).isEqualTo("FAILED");
        JsonNode done = lab.awaitFinal("m-10", "FAILED");
        assertThat(done.path("report").path("nics").get(0).path("sourceState").asString()).isEqualTo("aborted");
        assertThat(done.path("report").path("framesSaved").asLong()).isZero();
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
        // An event on a finished migration is recorded and changes nothing.
        assertThat(lab.event("m-10", "COMPLETED").json().path("state").asString()).isEqualTo("FAILED");
    }

    @Test
    void cancellingDisarmsBothSides() throws Exception {
        lab.start();
        lab.create(lab.migration("m-11", "vm-11"));
        lab.awaitState("m-11", "ARMED");
        RunningController.Response cancelled = lab.controller().call(HttpMethod.DELETE, "/v1/migrations/m-11", null);
        assertThat(cancelled.status()).isEqualTo(202);
        assertThat(cancelled.json().path("state").asString()).isEqualTo("CANCELLED");
        lab.awaitFinal("m-11", "CANCELLED");
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.controller().call(HttpMethod.DELETE, "/v1/migrations/m-11", null).status()).isEqualTo(202);
    }

    @Test
    void armedForTooLongExpires() throws Exception {
        lab.property("netpass.controller.coordination.armed-timeout", "500ms").start();
        lab.create(lab.migration("m-12", "vm-12"));
        JsonNode expired = lab.awaitFinal("m-12", "EXPIRED");
        assertThat(expired.path("reason").asString()).contains("without a switchover");
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
    }

    @Test
    void aDestinationThatNeverResumesExpires() throws Exception {
        lab.property("netpass.controller.coordination.switching-timeout", "500ms").start();
        lab.create(lab.migration("m-13", "vm-13"));
        lab.awaitState("m-13", "ARMED");
        assertThat(lab.event("m-13", "SOURCE_PAUSED").json().path("state").asString()).isEqualTo("SWITCHING");
        JsonNode expired = lab.awaitFinal("m-13", "EXPIRED");
        assertThat(expired.path("reason").asString()).contains("did not resume");
    }

    @Test
    void aSessionLostOnAnAgentDegradesTheMigration() throws Exception {
        lab.start();
        lab.create(lab.migration("m-14", "vm-14"));
        lab.awaitState("m-14", "ARMED");
        lab.destination = lab.destination.restartEmpty();
        JsonNode degraded = lab.awaitState("m-14", "DEGRADED");
        assertThat(degraded.path("reason").asString()).contains("gone from agent");
    }

    @Test
    void stateChangesStreamAsServerSentEvents() throws Exception {
        lab.start();
        lab.create(lab.migration("m-15", "vm-15"));
        lab.awaitState("m-15", "ARMED");
        CompletableFuture<List<ServerSentEvent<String>>> stream = lab.controller().client().get()
                .uri("/v1/migrations/m-15/events")
                .header(HttpHeaders.AUTHORIZATION, "Bearer " + RunningController.CALLER_TOKEN)
                .accept(MediaType.TEXT_EVENT_STREAM)
                .retrieve()
                .bodyToFlux(new ParameterizedTypeReference<ServerSentEvent<String>>() {
                })
                .filter(event -> event.data() != null)
                .collectList()
                .timeout(Duration.ofSeconds(10))
                .toFuture();
        Thread.sleep(300);
        lab.event("m-15", "DESTINATION_RESUMED");
        List<ServerSentEvent<String>> events = stream.get();
        JsonMapper json = JsonMapper.builder().build();
        List<String> states = new ArrayList<>();
        for (ServerSentEvent<String> event : events) {
            assertThat(event.event()).isEqualTo("state");
            assertThat(lab.contract().checkSchema("Migration", event.data())).isEmpty();
            states.add(json.readTree(event.data()).path("state").asString());
        }
        assertThat(states).startsWith("ARMED", "SWITCHING").endsWith("COMPLETED");
        JsonNode last = json.readTree(events.getLast().data());
        assertThat(last.path("report").path("final").asBoolean()).isTrue();
    }

    @Test
    void listingFiltersByStateVmAndHost() throws Exception {
        SimulatedAgent gone = lab.addStoppedAgent("host-c");
        lab.start();
        lab.create(lab.migration("m-16", "vm-16"));
        lab.create(ControllerLab.migration("m-17", "vm-17", lab.source, gone));
        lab.awaitState("m-16", "ARMED");
        lab.awaitState("m-17", "DEGRADED");
        assertThat(ids("/v1/migrations")).containsExactlyInAnyOrder("m-16", "m-17");
        assertThat(ids("/v1/migrations?state=ARMED")).containsExactly("m-16");
        assertThat(ids("/v1/migrations?vm=vm-17")).containsExactly("m-17");
        assertThat(ids("/v1/migrations?host=host-c")).containsExactly("m-17");
        assertThat(ids("/v1/migrations?host=host-a")).containsExactlyInAnyOrder("m-16", "m-17");
        assertThat(ids("/v1/migrations?active=false")).containsExactly("m-17");
        assertThat(ids("/v1/migrations?limit=1")).hasSize(1);
    }

    @Test
    void manyMigrationsRunAtOnce() throws Exception {
        lab.start();
        int count = 30;
        List<CompletableFuture<RunningController.Response>> creates = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int n = i;
            creates.add(CompletableFuture.supplyAsync(() -> lab.create(lab.migration("many-" + n, "vm-many-" + n))));
        }
        creates.forEach(create -> assertThat(create.join().status()).isEqualTo(202));
        for (int i = 0; i < count; i++) {
            lab.awaitState("many-" + i, "ARMED");
            lab.destination.release("many-" + i + ".0");
            lab.source.release("many-" + i + ".0");
        }
        for (int i = 0; i < count; i++) {
            assertThat(lab.awaitFinal("many-" + i, "COMPLETED").path("report").path("framesSaved").asLong())
                    .isEqualTo(42);
        }
        assertThat(lab.source.sessionCount()).isZero();
    }

    @Test
    void metricsCountOutcomesAndSavedFrames() throws Exception {
        lab.start();
        lab.create(lab.migration("m-18", "vm-18"));
        lab.awaitState("m-18", "ARMED");
        lab.event("m-18", "DESTINATION_RESUMED");
        lab.awaitFinal("m-18", "COMPLETED");
        String metrics = org.springframework.web.reactive.function.client.WebClient.create(
                        lab.controller().managementUrl())
                .get().uri("/actuator/prometheus").retrieve().bodyToMono(String.class).block();
        assertThat(metrics)
                .containsPattern("netpass_controller_migrations_total\\{[^}]*outcome=\"completed\"[^}]*\\} 1\\.0")
                .containsPattern("netpass_controller_frames_saved_total\\{[^}]*\\} 42\\.0")
                .containsPattern("netpass_controller_frames_dropped_total\\{[^}]*reason=\"buffer-full\"[^}]*\\} 1\\.0")
                .contains("netpass_controller_migration_phase_seconds_count{phase=\"switching\"")
                .contains("netpass_controller_agent_calls_seconds_count{operation=\"arm-source\",outcome=\"success\"");
    }

    private List<String> ids(String path) {
        RunningController.Response response = lab.controller().call(HttpMethod.GET, path, null);
        assertThat(response.status()).isEqualTo(200);
        List<String> ids = new ArrayList<>();
        response.json().path("items").forEach(item -> ids.add(item.path("id").asString()));
        return ids;
    }
}
