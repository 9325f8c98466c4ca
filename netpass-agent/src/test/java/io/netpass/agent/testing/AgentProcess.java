package io.netpass.agent.testing;

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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLContext;

import org.jspecify.annotations.Nullable;

import io.netpass.agent.NetpassAgentApplication;

/**
 * A netpass agent running as a child JVM on loopback, as it runs on a host: its own API port and management port,
 * token files, Netty's leak detector at paranoid. Its output goes to {@code NAME.log} in the work directory, which
 * {@link #assertNoLeaks()} reads.
 *
 * <p>Each agent has its own controller token; the peer token file is shared, as a fleet shares one peer Secret. A
 * test with a real controller gives its agents that controller's token file instead
 * ({@code netpass.agent.security.controller-token-file}).
 */
public final class AgentProcess implements AutoCloseable {

    /** What the leak detector prints for a buffer collected unreleased. */
    public static final String LEAK_MARK = "LEAK:";

    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);

    private final String name;
    private final Process process;
    private final int apiPort;
    private final int managementPort;
    private final Path log;
    private final String controllerToken;
    private final String peerToken;
    private final @Nullable Tls tls;
    private final @Nullable SSLContext controllerTls;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private AgentProcess(String name, Process process, int apiPort, int managementPort, Path log,
            String controllerToken, String peerToken, @Nullable Tls tls) {
        this.tls = tls;
        this.controllerTls = tls == null ? null : tls.pki().clientContext(tls.controller());
        this.name = name;
        this.process = process;
        this.apiPort = apiPort;
        this.managementPort = managementPort;
        this.log = log;
        this.controllerToken = controllerToken;
        this.peerToken = peerToken;
    }

    /**
     * JVM options of a test agent: Netty's leak detector at paranoid (every buffer tracked), and C1 only, since a
     * test agent lives for seconds. Benchmarks pass their own (see {@link #start(String, Path, List, String...)}).
     */
    public static final List<String> TEST_JVM_OPTIONS = List.of("-Dio.netty.leakDetection.level=paranoid",
            "-XX:+UseSerialGC", "-Xmx384m", "-XX:TieredStopAtLevel=1");

    /**
     * TLS of a test agent: its API serves a certificate from {@code pki} named {@code netpass-agent-NAME} (PEM files
     * named after the agent, reloaded when replaced), trusts {@code pki} towards peers with the same bundle, and
     * with {@code mutual} requires client certificates. The test's controller client presents {@code controller}.
     */
    public record Tls(TestPki pki, boolean mutual, TestPki.Issued controller) {

        /** TLS by {@code pki}, with a controller certificate named {@code netpass-controller}. */
        public static Tls by(TestPki pki, boolean mutual) {
            return new Tls(pki, mutual, pki.issue("netpass-controller", "controller"));
        }

        /** The agent's properties: bundle {@code api} for its server and towards its peers. */
        List<String> arguments(String agentName) {
            List<String> arguments = new ArrayList<>(bundle("api",
                    pki.issue("netpass-agent-" + agentName, "agent-" + agentName)));
            arguments.addAll(List.of(
                    "spring.ssl.bundle.watch.file.quiet-period=500ms",
                    "server.ssl.bundle=api",
                    "netpass.agent.peer-tls.bundle=api"));
            if (mutual) {
                arguments.add("server.ssl.client-auth=need");
            }
            return arguments;
        }

        /**
         * Properties ({@code key=value}) of PEM SSL bundle {@code name}: trusting {@link #pki()}, presenting
         * {@code identity}, reloaded when its files are replaced.
         */
        public List<String> bundle(String name, TestPki.Issued identity) {
            String prefix = "spring.ssl.bundle.pem." + name + ".";
            return List.of(prefix + "keystore.certificate=" + fileUrl(identity.certificateFile()),
                    prefix + "keystore.private-key=" + fileUrl(identity.privateKeyFile()),
                    prefix + "truststore.certificate=" + fileUrl(pki.certificateFile()),
                    prefix + "reload-on-update=true");
        }

        private static String fileUrl(Path file) {
            return file.toAbsolutePath().toUri().toString();
        }
    }

    /**
     * Starts agent {@code name} with its files in {@code workDirectory} and returns once it is ready (its readiness
     * probe answers UP). {@code extraArguments} are more {@code --key=value} properties.
     */
    public static AgentProcess start(String name, Path workDirectory, String... extraArguments) {
        return start(name, workDirectory, TEST_JVM_OPTIONS, extraArguments);
    }

    /** As {@link #start(String, Path, String...)}, serving its API over TLS as {@code tls} says. */
    public static AgentProcess start(String name, Path workDirectory, Tls tls, String... extraArguments) {
        return start(name, workDirectory, TEST_JVM_OPTIONS, tls, extraArguments);
    }

    /** As {@link #start(String, Path, String...)}, with {@code jvmOptions} instead of {@link #TEST_JVM_OPTIONS}. */
    public static AgentProcess start(String name, Path workDirectory, List<String> jvmOptions,
            String... extraArguments) {
        return start(name, workDirectory, jvmOptions, null, extraArguments);
    }

    private static AgentProcess start(String name, Path workDirectory, List<String> jvmOptions, @Nullable Tls tls,
            String... extraArguments) {
        try {
            Files.createDirectories(workDirectory);
            Path controllerTokens = Files.writeString(workDirectory.resolve(name + "-controller.token"),
                    "controller-" + name + "-" + Long.toHexString(System.nanoTime()) + "\n");
            Path peerTokens = workDirectory.resolve("peer.token");
            synchronized (AgentProcess.class) {
                if (!Files.exists(peerTokens)) {
                    Files.writeString(peerTokens, "peer-" + Long.toHexString(System.nanoTime()) + "\n");
                }
            }
            int apiPort = ChildProcesses.freeLoopbackPort();
            int managementPort = ChildProcesses.freeLoopbackPort();
            Path log = workDirectory.resolve(name + ".log");
            // Properties given twice on the command line are joined with a comma: the caller's replace the defaults.
            Map<String, String> properties = new LinkedHashMap<>();
            properties.put("server.port", Integer.toString(apiPort));
            properties.put("server.address", "127.0.0.1");
            properties.put("management.server.port", Integer.toString(managementPort));
            properties.put("management.server.address", "127.0.0.1");
            // Several agents share this host: each takes a free UDP port and tells its sources which.
            properties.put("netpass.agent.final-count.port", "0");
            properties.put("netpass.agent.security.controller-token-file", controllerTokens.toAbsolutePath().toString());
            properties.put("netpass.agent.security.peer-token-file", peerTokens.toAbsolutePath().toString());
            properties.put("spring.main.banner-mode", "off");
            List<String> arguments = new ArrayList<>(tls == null ? List.of() : tls.arguments(name));
            arguments.addAll(List.of(extraArguments));
            for (String argument : arguments) {
                String[] keyValue = argument.replaceFirst("^--", "").split("=", 2);
                properties.put(keyValue[0], keyValue.length > 1 ? keyValue[1] : "");
            }
            // A caller's token files (a real controller's, shared by its agents) replace the agent's own; the tokens
            // this class presents are then the first lines of those files.
            String controllerToken = firstLine(Path.of(properties.get("netpass.agent.security.controller-token-file")));
            String peerToken = firstLine(Path.of(properties.get("netpass.agent.security.peer-token-file")));
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED"));
            command.addAll(jvmOptions);
            command.addAll(List.of("-cp", System.getProperty("java.class.path"),
                    NetpassAgentApplication.class.getName()));
            properties.forEach((key, value) -> command.add("--" + key + "=" + value));
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            AgentProcess agent = new AgentProcess(name, process, apiPort, managementPort, log, controllerToken,
                    peerToken, tls);
            try {
                agent.awaitReady();
            } catch (RuntimeException | Error e) {
                agent.close();
                throw e;
            }
            return agent;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start agent " + name, e);
        }
    }

    private static String firstLine(Path file) throws IOException {
        return Files.readAllLines(file).getFirst().strip();
    }


    private void awaitReady() {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("agent " + name + " exited with " + process.exitValue() + ":\n"
                        + logTail(60));
            }
            try {
                HttpResponse<String> health = http.send(HttpRequest.newBuilder(management("/actuator/health/readiness"))
                        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
                if (health.statusCode() == 200 && health.body().contains("UP")) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while starting agent " + name, e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("agent " + name + " not ready within " + START_TIMEOUT + ":\n"
                        + logTail(60));
            }
            ChildProcesses.sleep(Duration.ofMillis(200));
        }
    }

    public String name() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    public boolean alive() {
        return process.isAlive();
    }

    public int apiPort() {
        return apiPort;
    }

    /** {@code http://127.0.0.1:PORT} ({@code https} with TLS), what a destination is told as {@code sourceAgent}. */
    public URI baseUri() {
        return URI.create(scheme() + "://127.0.0.1:" + apiPort);
    }

    /** {@code https} if the agent serves TLS, else {@code http}. */
    public String scheme() {
        return tls == null ? "http" : "https";
    }

    /** A URL on the management port (health, metrics), which needs no token. */
    public URI management(String path) {
        return URI.create("http://127.0.0.1:" + managementPort + path);
    }

    /** The token this agent's controller presents. */
    public String controllerToken() {
        return controllerToken;
    }

    /** The token agents present to each other. */
    public String peerToken() {
        return peerToken;
    }

    /** A controller's client of this agent, presenting its controller token. */
    public AgentApi api() {
        return controllerTls == null ? new AgentApi(baseUri(), controllerToken)
                : new AgentApi(baseUri(), controllerToken, controllerTls);
    }

    /**
     * The sum of the samples of Prometheus meter {@code name} (its exported name, e.g. {@code ..._total}) whose labels
     * contain every one of {@code labels} (e.g. {@code outcome="accepted"}); fails if no sample matches.
     */
    public long meterSum(String name, String... labels) {
        List<String> samples = managementGet("/actuator/prometheus").lines()
                .filter(line -> line.startsWith(name + "{") && Arrays.stream(labels).allMatch(line::contains))
                .toList();
        if (samples.isEmpty()) {
            throw new AssertionError("no " + name + " sample with " + Arrays.toString(labels));
        }
        return samples.stream()
                .mapToLong(line -> (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .sum();
    }

    /** Its management endpoint {@code path} as text; fails unless 200. */
    public String managementGet(String path) {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(management(path))
                    .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new IllegalStateException(path + " of agent " + name + " answered " + response.statusCode());
            }
            return response.body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public Path log() {
        return log;
    }

    public String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The last {@code lines} lines of the log. */
    public String logTail(int lines) {
        List<String> all = logText().lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /**
     * Checks every agent for leaked buffers and stops it, whatever the others showed; then throws the first leak found.
     */
    public static void closeCheckingLeaks(@Nullable AgentProcess... agents) {
        AssertionError leaks = null;
        for (AgentProcess agent : agents) {
            if (agent == null) {
                continue;
            }
            try {
                agent.assertNoLeaks();
            } catch (AssertionError e) {
                leaks = leaks == null ? e : leaks;
            } finally {
                agent.close();
            }
        }
        if (leaks != null) {
            throw leaks;
        }
    }

    /**
     * Fails if the agent's log holds a leak report. The leak detector reports a buffer only once it was collected
     * and a later buffer is tracked, so this first has the agent collect its garbage ({@code jcmd GC.run}) and serve
     * a few requests.
     */
    public void assertNoLeaks() {
        if (process.isAlive()) {
            for (int round = 0; round < 2; round++) {
                runJcmd("GC.run");
                for (int i = 0; i < 5; i++) {
                    api().sessions();
                }
                ChildProcesses.sleep(Duration.ofMillis(200));
            }
        }
        List<String> leaks = logText().lines().filter(line -> line.contains(LEAK_MARK)).toList();
        if (!leaks.isEmpty()) {
            throw new AssertionError("agent " + name + " leaked buffers (" + log + "):\n" + String.join("\n", leaks));
        }
    }

    /** Writes a thread dump of the agent to {@code NAME-threads.txt} beside its log; returns that file. */
    public Path dumpThreads() {
        Path dump = log.resolveSibling(name + "-threads-" + System.currentTimeMillis() + ".txt");
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    Long.toString(process.pid()), "Thread.print")
                    .redirectErrorStream(true).redirectOutput(dump.toFile()).start();
            jcmd.waitFor(30, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return dump;
    }

    private void runJcmd(String command) {
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    Long.toString(process.pid()), command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!jcmd.waitFor(30, TimeUnit.SECONDS)) {
                jcmd.destroyForcibly();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops the agent: SIGTERM (a graceful shutdown that disarms), then SIGKILL if it lingers. */
    @Override
    public void close() {
        ChildProcesses.stop(process, STOP_TIMEOUT);
    }

    @Override
    public String toString() {
        return "agent " + name + " (pid " + process.pid() + ", api " + apiPort + ", management " + managementPort + ")";
    }
}
