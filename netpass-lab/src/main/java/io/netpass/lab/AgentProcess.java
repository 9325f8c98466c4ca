package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A netpass agent running as its own JVM on loopback, as one host's agent. The lab runs one per host namespace;
 * the agents themselves stay in the root namespace and reach the taps through namespace paths, as on a real host.
 */
public final class AgentProcess implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    private final String name;
    private final Process process;
    private final URI baseUrl;
    private final Path log;

    private AgentProcess(String name, Process process, URI baseUrl, Path log) {
        this.name = name;
        this.process = process;
        this.baseUrl = baseUrl;
        this.log = log;
    }

    /**
     * Starts the agent jar ({@code netpass.agent.jar} system property, else the build's default path) and waits
     * until it reports itself ready.
     */
    public static AgentProcess start(String name, AgentTokens tokens, Path workDirectory) {
        Path jar = agentJar();
        int apiPort = freePort();
        int managementPort = freePort();
        Path log = workDirectory.resolve("agent-" + name + ".log");
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-XX:+UseZGC",
                "-Dio.netty.leakDetection.level=" + System.getProperty("netpass.leak-detection", "simple"),
                "-jar", jar.toString(),
                "--server.port=" + apiPort,
                "--server.address=127.0.0.1",
                "--management.server.port=" + managementPort,
                "--management.server.address=127.0.0.1",
                // Several agents share this host: each takes a free UDP port and tells its sources which.
                "--netpass.agent.final-count.port=0",
                "--netpass.agent.security.controller-token-file=" + tokens.controllerFile(),
                "--netpass.agent.security.peer-token-file=" + tokens.peerFile()));
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            AgentProcess agent = new AgentProcess(name, process, URI.create("http://127.0.0.1:" + apiPort), log);
            agent.awaitReady(URI.create("http://127.0.0.1:" + managementPort + "/actuator/health/readiness"));
            return agent;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start agent " + name, e);
        }
    }

    private static Path agentJar() {
        String configured = System.getProperty("netpass.agent.jar");
        Path jar = configured != null ? Path.of(configured)
                : Path.of("netpass-agent", "target", "netpass-agent-0.1.0-SNAPSHOT-exec.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("agent jar " + jar.toAbsolutePath() + " not built: run ./mvnw package");
        }
        return jar;
    }

    private void awaitReady(URI readiness) {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("agent " + name + " exited; see " + log);
            }
            try {
                HttpResponse<String> response = http.send(HttpRequest.newBuilder(readiness)
                        .timeout(Duration.ofSeconds(1)).build(), HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(200);
        }
        close();
        throw new IllegalStateException("agent " + name + " not ready within " + START_TIMEOUT + "; see " + log);
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public String name() {
        return name;
    }

    public URI baseUrl() {
        return baseUrl;
    }

    public Path log() {
        return log;
    }

    /** The agent's log so far. */
    public String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
