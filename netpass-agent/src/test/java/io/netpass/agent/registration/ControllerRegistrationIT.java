package io.netpass.agent.registration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.netpass.agent.testing.AgentProcess;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import tools.jackson.databind.json.JsonMapper;

/**
 * A real agent process registering with a controller: a loopback HTTP server standing in for the controller's
 * {@code PUT /v1/agents/NAME}, which records every registration and can refuse them.
 */
class ControllerRegistrationIT {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** One registration as the controller received it. */
    private record Registration(String path, String authorization, String baseUrl) {
    }

    @TempDir
    Path directory;

    private final List<Registration> registrations = new CopyOnWriteArrayList<>();
    private volatile int answer = 200;
    private DisposableServer controller;
    private AgentProcess agent;
    private Path tokenFile;

    @BeforeEach
    void controller() throws Exception {
        controller = HttpServer.create().host("127.0.0.1").port(0)
                .route(routes -> routes.put("/v1/agents/{name}", (request, response) -> request.receive()
                        .aggregate().asString().defaultIfEmpty("{}").flatMap(body -> {
                            registrations.add(new Registration(request.uri(),
                                    String.valueOf(request.requestHeaders().get("Authorization")),
                                    JSON.readTree(body).path("baseUrl").asString()));
                            return response.status(answer).header("Content-Type", "application/json")
                                    .sendString(Mono.just("{}")).then();
                        })))
                .bindNow();
        tokenFile = Files.writeString(directory.resolve("registration.token"), "registration-1\n");
    }

    @AfterEach
    void stop() {
        if (agent != null) {
            agent.close();
        }
        controller.disposeNow();
    }

    private AgentProcess startAgent(String... more) {
        List<String> arguments = new java.util.ArrayList<>(List.of(
                "--netpass.agent.registration.controller-url=http://127.0.0.1:" + controller.port(),
                "--netpass.agent.registration.agent-name=host-r1",
                "--netpass.agent.registration.token-file=" + tokenFile,
                "--netpass.agent.registration.interval=300ms",
                "--netpass.agent.registration.failure-backoff=100ms",
                "--netpass.agent.registration.max-failure-backoff=400ms",
                "--netpass.agent.security.token-refresh=100ms"));
        arguments.addAll(List.of(more));
        return AgentProcess.start("reg", directory, arguments.toArray(String[]::new));
    }

    @Test
    void theAgentRegistersItsNameAndApiUrlWithItsOwnTokenAndRenewsItAsAHeartbeat() {
        agent = startAgent();
        await(Duration.ofSeconds(10), () -> registrations.size() >= 4);
        Registration first = registrations.getFirst();
        assertThat(first.path()).isEqualTo("/v1/agents/host-r1");
        assertThat(first.baseUrl()).as("derived from server.address and the API's port")
                .isEqualTo(agent.baseUri().toString());
        assertThat(first.authorization()).isEqualTo("Bearer registration-1")
                .isNotEqualTo("Bearer " + agent.controllerToken());
        assertThat(metric("netpass_agent_registration_registered")).isEqualTo(1);
        assertThat(metric("netpass_agent_registration_attempts_total{outcome=\"success\"")).isGreaterThanOrEqualTo(4);

        // A rotated token is presented from the next renewal on.
        int before = registrations.size();
        write(tokenFile, "registration-2\nregistration-1\n");
        await(Duration.ofSeconds(10), () -> registrations.subList(before, registrations.size()).stream()
                .anyMatch(registration -> registration.authorization().equals("Bearer registration-2")));
    }

    @Test
    void aControllerThatRefusesNeitherStopsTheAgentNorFloodsItsLogAndTheAgentRegistersOnceItAccepts() {
        answer = 503;
        agent = startAgent();
        await(Duration.ofSeconds(10), () -> registrations.size() >= 5);
        assertThat(metric("netpass_agent_registration_registered")).isZero();
        assertThat(metric("netpass_agent_registration_attempts_total{outcome=\"failure\"")).isGreaterThanOrEqualTo(5);
        assertThat(agent.logText().lines().filter(line -> line.contains("cannot register with controller")))
                .as("one warning, however many attempts").hasSize(1);

        answer = 200;
        await(Duration.ofSeconds(10), () -> metric("netpass_agent_registration_registered") == 1);
        answer = 503;
        await(Duration.ofSeconds(10), () -> metric("netpass_agent_registration_registered") == 0);
        assertThat(agent.logText().lines().filter(line -> line.contains("cannot register with controller")))
                .as("one more warning for the new failure").hasSize(2);
        assertThat(agent.logText().lines().filter(line -> line.contains("registered with controller")))
                .hasSize(1);
    }

    @Test
    void anAgentListeningOnEveryAddressMustBeToldWhichUrlToAdvertise() {
        assertThatThrownBy(() -> startAgent("--server.address=0.0.0.0"))
                .hasMessageContaining("netpass.agent.registration.advertised-url is required");
        agent = startAgent("--server.address=0.0.0.0",
                "--netpass.agent.registration.advertised-url=http://192.0.2.7:7070");
        await(Duration.ofSeconds(10), () -> !registrations.isEmpty());
        assertThat(registrations.getFirst().baseUrl()).isEqualTo("http://192.0.2.7:7070");
    }

    /** A sample's value from the agent's Prometheus text: the first line starting with {@code series}. */
    private double metric(String series) {
        String text = agent.managementGet("/actuator/prometheus");
        Matcher value = java.util.regex.Pattern.compile("(?m)^" + java.util.regex.Pattern.quote(series)
                + "[^ ]* ([0-9.eE+-]+)$").matcher(text);
        if (!value.find()) {
            throw new AssertionError("no " + series + " in\n" + text);
        }
        return Double.parseDouble(value.group(1));
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void await(Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + timeout);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
