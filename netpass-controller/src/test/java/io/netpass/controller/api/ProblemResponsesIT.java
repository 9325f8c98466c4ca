package io.netpass.controller.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpMethod;

import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;
import io.netpass.controller.testing.RunningController.Response;

/** Every way a call can go wrong answers with an RFC 9457 problem, never a stack trace. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProblemResponsesIT {

    private ControllerLab lab;
    private RunningController controller;

    @BeforeAll
    void start(@TempDir Path directory) throws Exception {
        lab = new ControllerLab(directory);
        controller = lab.start();
        lab.create(lab.migration("busy", "vm-busy"));
        lab.create(lab.migration("done", "vm-done"));
        lab.awaitState("done", "ARMED");
        lab.event("done", "FAILED");
        lab.awaitFinal("done", "FAILED");
    }

    @AfterAll
    void close() {
        List<String> violations = lab.recorder().violations();
        lab.close();
        assertThat(violations).as("responses that break the contract").isEmpty();
    }

    @Test
    void noTokenIs401() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations", null, null, Map.of()), 401,
                "urn:netpass:problem:token-required");
    }

    @Test
    void anUnknownTokenIs401() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations", null, "nope", Map.of()), 401,
                "urn:netpass:problem:token-unknown");
    }

    @Test
    void aRegistrationTokenMayOnlyRegister() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations", null, RunningController.REGISTRATION_TOKEN,
                Map.of()), 403, "urn:netpass:problem:wrong-caller");
        Response registered = controller.call(HttpMethod.PUT, "/v1/agents/host-z",
                Map.of("baseUrl", "http://10.0.0.9:7070"), RunningController.REGISTRATION_TOKEN, Map.of());
        assertThat(registered.status()).isEqualTo(200);
        assertThat(registered.json().path("origin").asString()).isEqualTo("registered");
    }

    @Test
    void malformedJsonIs400() {
        expect(controller.call(HttpMethod.POST, "/v1/migrations", "{\"vm\":", RunningController.CALLER_TOKEN,
                Map.of()), 400, "about:blank");
    }

    @Test
    void anUnknownFieldIs400() {
        Map<String, Object> body = new java.util.HashMap<>(lab.migration("x-1", "vm-x1"));
        body.put("color", "blue");
        expect(controller.call(HttpMethod.POST, "/v1/migrations", body), 400, "about:blank");
    }

    @Test
    void anInvalidFieldIs400AndNamesIt() {
        Map<String, Object> body = new java.util.HashMap<>(lab.migration("x-2", "vm-x2"));
        body.put("nics", List.of(Map.of("mac", "not-a-mac", "sourceTap", "tap0", "destinationTap", "tap1")));
        Response response = controller.call(HttpMethod.POST, "/v1/migrations", body);
        expect(response, 400, "urn:netpass:problem:invalid-request");
        assertThat(response.json().path("detail").asString()).contains("nics[0].mac");
    }

    @Test
    void aMissingFieldIs400() {
        expect(controller.call(HttpMethod.POST, "/v1/migrations", Map.of("vm", "vm-x3")), 400,
                "urn:netpass:problem:invalid-request");
    }

    @Test
    void aBadPathVariableIs400() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations/-bad-", null), 400,
                "urn:netpass:problem:invalid-request");
    }

    @Test
    void badQueryParametersAre400() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations?limit=0", null), 400,
                "urn:netpass:problem:invalid-request");
        expect(controller.call(HttpMethod.GET, "/v1/migrations?state=BOGUS", null), 400, "about:blank");
    }

    @Test
    void aBadIdempotencyKeyIs400() {
        expect(controller.call(HttpMethod.POST, "/v1/migrations", lab.migration(null, "vm-x4"),
                RunningController.CALLER_TOKEN, Map.of("Idempotency-Key", "x".repeat(200))), 400,
                "urn:netpass:problem:invalid-request");
    }

    @Test
    void anUnknownMigrationIs404() {
        expect(controller.call(HttpMethod.GET, "/v1/migrations/nothing", null), 404,
                "urn:netpass:problem:migration-not-found");
        expect(lab.event("nothing", "FAILED"), 404, "urn:netpass:problem:migration-not-found");
        expect(controller.call(HttpMethod.DELETE, "/v1/migrations/nothing", null), 404,
                "urn:netpass:problem:migration-not-found");
    }

    @Test
    void anUnknownPathIs404() {
        expect(controller.call(HttpMethod.GET, "/v1/nothing-here", null), 404, "about:blank");
    }

    @Test
    void aWrongMethodIs405() {
        expect(controller.call(HttpMethod.PATCH, "/v1/migrations", Map.of()), 405, "about:blank");
    }

    @Test
    void aWrongContentTypeIs415() {
        Response response = controller.client().post().uri("/v1/migrations")
                .header("Authorization", "Bearer " + RunningController.CALLER_TOKEN)
                .header("Content-Type", "text/plain").bodyValue("hello")
                .exchangeToMono(r -> r.bodyToMono(String.class).map(body -> new Response(r.statusCode().value(),
                        r.headers().asHttpHeaders().getFirst("Content-Type"), body,
                        tools.jackson.databind.json.JsonMapper.builder().build().readTree(body),
                        r.headers().asHttpHeaders(), java.time.Duration.ZERO)))
                .block();
        expect(response, 415, "about:blank");
    }

    @Test
    void conflictsAre409() {
        expect(lab.create(lab.migration("busy-2", "vm-busy")), 409, "urn:netpass:problem:vm-already-migrating");
        expect(lab.create(lab.migration("busy", "vm-else")), 409, "urn:netpass:problem:migration-conflict");
        expect(controller.call(HttpMethod.DELETE, "/v1/migrations/done", null), 409,
                "urn:netpass:problem:migration-finished");
        expect(controller.call(HttpMethod.PUT, "/v1/agents/host-a", Map.of("baseUrl", "http://10.1.1.1:7070")),
                409, "urn:netpass:problem:agent-name-taken");
    }

    @Test
    void anUnknownAgentIs422() {
        Map<String, Object> body = new java.util.HashMap<>(lab.migration("x-5", "vm-x5"));
        body.put("destinationAgent", "http://10.9.9.9:7070");
        expect(controller.call(HttpMethod.POST, "/v1/migrations", body), 422, "urn:netpass:problem:unknown-agent");
    }

    @Test
    void theEventStreamOfAnUnknownMigrationIs404() {
        Response response = controller.call(HttpMethod.GET, "/v1/migrations/nothing/events", null,
                RunningController.CALLER_TOKEN, Map.of("Accept", "text/event-stream"));
        assertThat(response.status()).isEqualTo(404);
    }

    private static void expect(Response response, int status, String type) {
        assertThat(response.status()).as(response.body()).isEqualTo(status);
        assertThat(response.isProblem()).as("problem+json: " + response.contentType()).isTrue();
        assertThat(response.json().path("status").asInt()).isEqualTo(status);
        // RFC 9457: no type means about:blank, which is how Spring writes the framework's own problems.
        assertThat(response.json().path("type").asString("about:blank")).isEqualTo(type);
        assertThat(response.json().path("title").asString()).isNotBlank();
        assertThat(response.body()).doesNotContain("Exception").doesNotContain("\tat ").doesNotContain("trace");
    }
}
