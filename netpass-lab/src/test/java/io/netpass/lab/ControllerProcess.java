package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.jspecify.annotations.Nullable;

import tools.jackson.databind.JsonNode;

import io.netpass.agent.testing.ChildProcesses;

/**
 * A netpass controller running as its own JVM from its runnable jar ({@code netpass.controller.jar}), on loopback,
 * with the agents it knows configured statically (if any: agents may register themselves instead). {@link #kill()}
 * stops it as a crashed pod stops (SIGKILL); {@link #restart()} starts a new one with the same ports, token files and
 * properties, as the pod coming back.
 */
final class ControllerProcess implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);

    /**
     * How a controller is started; kept so that a restart is the same controller.
     *
     * @param properties {@code --key=value} arguments, ports and token files included
     * @param apiPort the API's port
     * @param managementPort health and metrics
     * @param callerToken what orchestrators present
     * @param log where its output goes (appended to across restarts)
     */
    private record Launch(Map<String, String> properties, int apiPort, int managementPort, String callerToken,
            Path log) {
    }

    private final Launch launch;
    private final Process process;
    private final ControllerClient client;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();

    private ControllerProcess(Launch launch, Process process) {
        this.launch = launch;
        this.process = process;
        this.client = new ControllerClient(URI.create("http://127.0.0.1:" + launch.apiPort()), launch.callerToken());
    }

    /**
     * Starts a controller with its token files in {@code workDirectory} that presents the token in
     * {@code agentTokenFile} to the agents {@code agents} (name to base URL); {@code extraProperties} are more
     * {@code key=value} properties. Returns once it is ready.
     */
    static ControllerProcess start(Path workDirectory, Path agentTokenFile, Map<String, URI> agents,
            String... extraProperties) {
        try {
            Files.createDirectories(workDirectory);
            String callerToken = "caller-" + Long.toHexString(System.nanoTime());
            Path callerTokens = Files.writeString(workDirectory.resolve("caller.token"), callerToken + "\n");
            int apiPort = ChildProcesses.freeLoopbackPort();
            int managementPort = ChildProcesses.freeLoopbackPort();
            Map<String, String> properties = new LinkedHashMap<>();
            properties.put("server.port", Integer.toString(apiPort));
            properties.put("server.address", "127.0.0.1");
            properties.put("management.server.port", Integer.toString(managementPort));
            properties.put("management.server.address", "127.0.0.1");
            properties.put("netpass.controller.security.caller-token-file", callerTokens.toAbsolutePath().toString());
            properties.put("netpass.controller.security.agent-token-file", agentTokenFile.toAbsolutePath().toString());
            properties.put("spring.main.banner-mode", "off");
            int index = 0;
            for (Map.Entry<String, URI> agent : agents.entrySet()) {
                properties.put("netpass.controller.agents[" + index + "].name", agent.getKey());
                properties.put("netpass.controller.agents[" + index + "].base-url", agent.getValue().toString());
                index++;
            }
            for (String property : extraProperties) {
                String[] keyValue = property.split("=", 2);
                properties.put(keyValue[0], keyValue[1]);
            }
            // A caller's server.port (one its agents were told to register with) replaces the free one.
            apiPort = Integer.parseInt(properties.get("server.port"));
            return launch(new Launch(Map.copyOf(properties), apiPort, managementPort, callerToken,
                    workDirectory.resolve("controller.log")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the controller", e);
        }
    }

    /** A new controller process like this one (which must have stopped): same ports, files and properties. */
    ControllerProcess restart() {
        if (process.isAlive()) {
            throw new IllegalStateException("controller " + process.pid() + " still runs");
        }
        return launch(launch);
    }

    private static ControllerProcess launch(Launch launch) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-Xmx256m", "-XX:TieredStopAtLevel=1",
                "-jar", controllerJar().toString()));
        launch.properties().forEach((key, value) -> command.add("--" + key + "=" + value));
        try {
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(launch.log().toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            ControllerProcess controller = new ControllerProcess(launch, process);
            try {
                controller.awaitReady();
            } catch (RuntimeException | Error e) {
                controller.close();
                throw e;
            }
            return controller;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the controller", e);
        }
    }

    private static Path controllerJar() {
        String configured = System.getProperty("netpass.controller.jar");
        Path jar = configured != null ? Path.of(configured)
                : Path.of("..", "netpass-controller", "target", "netpass-controller-0.1.0-SNAPSHOT.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("controller jar " + jar.toAbsolutePath()
                    + " not built: run ./mvnw package");
        }
        return jar;
    }

    private void awaitReady() {
        URI readiness = URI.create("http://127.0.0.1:" + launch.managementPort() + "/actuator/health/readiness");
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("controller exited with " + process.exitValue() + "; see "
                        + launch.log());
            }
            try {
                HttpResponse<String> health = http.send(HttpRequest.newBuilder(readiness)
                        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
                if (health.statusCode() == 200 && health.body().contains("UP")) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while starting the controller", e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("controller not ready within " + START_TIMEOUT + "; see "
                        + launch.log());
            }
            ChildProcesses.sleep(Duration.ofMillis(200));
        }
    }

    /** {@code method path} with {@code body} (JSON, none if null), presenting the caller token. */
    ControllerClient.Response call(String method, String path, @Nullable Object body) {
        return client.call(method, path, body);
    }

    /** The agents the controller knows now ({@code GET /v1/agents} items). */
    JsonNode agents() {
        ControllerClient.Response response = call("GET", "/v1/agents", null);
        if (response.status() != 200) {
            throw new AssertionError("GET agents: " + response);
        }
        return response.json().path("items");
    }

    /** {@code GET /v1/migrations/ID}; fails unless 200. */
    JsonNode migration(String id) {
        return client.migration(id);
    }

    long pid() {
        return process.pid();
    }

    /** The API's base URL. */
    URI baseUri() {
        return URI.create("http://127.0.0.1:" + launch.apiPort());
    }

    /** The file holding the caller token (what an orchestrator, or the libvirt hook, presents). */
    Path callerTokenFile() {
        return Path.of(launch.properties().get("netpass.controller.security.caller-token-file"));
    }

    Path log() {
        return launch.log();
    }

    /** Writes a thread dump of the controller beside its log; returns that file. */
    Path dumpThreads() {
        Path dump = launch.log().resolveSibling("controller-threads-" + System.currentTimeMillis() + ".txt");
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    Long.toString(process.pid()), "Thread.print")
                    .redirectErrorStream(true).redirectOutput(dump.toFile()).start();
            if (!jcmd.waitFor(30, TimeUnit.SECONDS)) {
                jcmd.destroyForcibly();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return dump;
    }

    /** Stops the controller at once, as a crash or an evicted pod would: no shutdown hook, agents stay armed. */
    void kill() {
        process.destroyForcibly();
        try {
            if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                throw new IllegalStateException("controller " + process.pid() + " survived SIGKILL");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Stops the controller: SIGTERM, then SIGKILL if it lingers. */
    @Override
    public void close() {
        ChildProcesses.stop(process, STOP_TIMEOUT);
    }



    /** Health and Prometheus metrics, on loopback. */
    int managementPort() {
        return launch.managementPort();
    }

    @Override
    public String toString() {
        return "controller (pid " + process.pid() + ", api " + launch.apiPort() + ")";
    }
}
