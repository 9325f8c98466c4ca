package io.netpass.lab;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.springframework.util.FileSystemUtils;

import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.ChildProcesses;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.PacedTraffic;
import io.netpass.agent.testing.SequencedDelivery;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole product as it runs: a controller and two agents as separate JVMs, fake VMs in namespace hosts, and an
 * orchestrator that only talks to the controller's REST API. A client sends numbered frames throughout the
 * switchover; every one must reach exactly one VM, and the controller's report must agree, frame for frame, with
 * what the VMs themselves read. Also with the controller killed in the middle of the switchover and started again.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControllerWithAgentsIT {

    // The agent ITs' traffic: 5,000 frames/s, 2,000 before the source VM pauses, 4,000 while it is paused, 2,000
    // after the destination VM announced itself.
    private static final int RATE = 5_000;
    private static final int BEFORE_PAUSE = 2_000;
    private static final int WHILE_PAUSED = 4_000;
    private static final int AFTER_SWITCH = 2_000;
    /** While a new controller starts (seconds on two busy cores) the client trickles on, so the source keeps it all. */
    private static final int RATE_WHILE_RESTARTING = 500;
    /** QEMU's taps have a 1,000-frame ring; so does the destination's here. */
    private static final int TAP_QUEUE = 1_000;
    /**
     * The source tap's ring holds every frame its paused VM never read, so that the VM, resumed once netpass is done,
     * reads them: its own record of what netpass had to keep, which the report is checked against.
     */
    private static final int SOURCE_TAP_QUEUE = 16_384;
    private static final Duration ARM_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(45);
    private static final Duration TRAFFIC_TIMEOUT = Duration.ofSeconds(20);

    private final Path work = Path.of("target", "it-e2e", getClass().getSimpleName());

    private NamespaceLab lab;
    private Host sourceHost;
    private Host destinationHost;
    private Client client;
    private FrameSender sender;
    private Path agentToken;
    private Path registrationToken;
    /** Every controller of the class listens here: the agents register with whichever runs. */
    private int controllerPort;
    private AgentProcess sourceAgent;
    private AgentProcess destinationAgent;

    /** The controller of the running test; replaced when the test restarts it. */
    private @Nullable ControllerProcess controller;

    /** Starts agent {@code name}: over h2c here; {@link ControllerWithAgentsOverTlsIT} runs the tests over TLS. */
    protected AgentProcess startAgent(String name, Path workDirectory, String... arguments) {
        return AgentProcess.start(name, workDirectory, arguments);
    }

    /** More controller properties; {@link ControllerWithAgentsOverTlsIT} adds TLS towards the agents. */
    protected List<String> controllerProperties() {
        // Arming waits for a quiet moment on the tap; on two loaded cores it has taken longer than the 2 s default,
        // which makes the migration DEGRADED: that path has tests of its own, this one is about the switchover.
        return List.of("netpass.controller.agent-calls.response-timeout=6s");
    }

    @BeforeAll
    void startLabAndAgents() throws Exception {
        // A state directory left by an earlier run would hand the controller migrations of agents long gone.
        FileSystemUtils.deleteRecursively(work);
        Files.createDirectories(work);
        // One token, as one Kubernetes Secret: the controller presents it, every agent accepts it.
        agentToken = Files.writeString(work.resolve("controller-to-agents.token"),
                "controller-" + Long.toHexString(System.nanoTime()) + "\n");
        // Another Secret: what agents present to the controller to register.
        registrationToken = Files.writeString(work.resolve("agent-registration.token"),
                "registration-" + Long.toHexString(System.nanoTime()) + "\n");
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            controllerPort = socket.getLocalPort();
        }
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> startAgent("a", work,
                agentArguments("host-a")));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> startAgent("b", work,
                agentArguments("host-b")));
        lab = new NamespaceLab();
        sourceHost = lab.host("src");
        destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        client = lab.client("cl", sourceHost);
        sender = client.sender();
        sourceAgent = a.get(2, TimeUnit.MINUTES);
        destinationAgent = b.get(2, TimeUnit.MINUTES);
    }

    /** An agent that registers itself as {@code name} with the class's controller, every second. */
    private String[] agentArguments(String name) {
        return new String[] {
            "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
            // A fake VM delivers every frame it reads, unlike QEMU, which holds the one it reads after its VM stopped.
            "--netpass.agent.forwarding.forward-frame-held-by-vmm=false",
            "--netpass.agent.registration.controller-url=http://127.0.0.1:" + controllerPort,
            "--netpass.agent.registration.agent-name=" + name,
            "--netpass.agent.registration.token-file=" + registrationToken.toAbsolutePath(),
            // Between tests no controller runs: the agents retry every second, and register within one of a start.
            "--netpass.agent.registration.interval=1s",
            "--netpass.agent.registration.max-failure-backoff=1s",
        };
    }

    @AfterEach
    void stopController() {
        if (controller != null) {
            controller.close();
            controller = null;
        }
    }

    @AfterAll
    void stopEverything() {
        try {
            AgentProcess.closeCheckingLeaks(sourceAgent, destinationAgent);
        } finally {
            if (sender != null) {
                sender.close();
            }
            if (lab != null) {
                lab.close();
            }
        }
    }

    /** What happens to the controller during the switchover. */
    private enum Crash {
        /** Nothing: it sees the whole migration. */
        NONE,
        /**
         * Killed once it knows the source VM paused, started again while the source still keeps frames; the
         * orchestrator's later events go to the new controller.
         */
        RESTARTED_BEFORE_RESUME,
        /** Killed once it knows the source VM paused, started again after the agents finished on their own. */
        RESTARTED_AFTER_AGENTS_FINISHED
    }

    @Test
    void aMigrationCreatedThroughTheControllerLosesNothingAndItsReportMatchesTheVms() {
        controller = startController("plain");
        Outcome run = migrate("e2e-plain", "vm-plain", "tapa1", "tapb1", EthernetAddress.of("52:54:00:6e:72:01"),
                Crash.NONE);

        JsonNode migration = run.migration();
        assertThat(migration.path("recovered").asBoolean()).isFalse();
        assertThat(migration.path("vm").asString()).isEqualTo("vm-plain");
        assertThat(migration.path("events").findValuesAsString("type"))
                .containsExactly("SOURCE_PAUSED", "DESTINATION_RESUMED", "COMPLETED");
    }

    @Test
    void aControllerKilledAndRestartedDuringTheSwitchoverCompletesTheMigrationAndItsReport() {
        controller = startController("state-directory",
                "netpass.controller.recovery.state-directory=" + work.resolve("state").toAbsolutePath());
        Outcome run = migrate("e2e-killed-state", "vm-killed-state", "tapa2", "tapb2",
                EthernetAddress.of("52:54:00:6e:72:02"), Crash.RESTARTED_BEFORE_RESUME);

        JsonNode migration = run.migration();
        assertThat(migration.path("recovered").asBoolean()).isTrue();
        assertThat(migration.path("vm").asString()).as("kept in the state directory").isEqualTo("vm-killed-state");
        assertThat(migration.path("nics").get(0).path("mac").asString()).isEqualTo("52:54:00:6e:72:02");
        assertThat(migration.path("events").findValuesAsString("type")).as("SOURCE_PAUSED came before the kill")
                .containsExactly("SOURCE_PAUSED", "DESTINATION_RESUMED", "COMPLETED");
    }

    @Test
    void aControllerKilledDuringTheSwitchoverAndRestartedAfterItRebuildsTheMigrationFromTheAgents() {
        controller = startController("agents-alone");
        Outcome run = migrate("e2e-killed-bare", "vm-killed-bare", "tapa3", "tapb3",
                EthernetAddress.of("52:54:00:6e:72:03"), Crash.RESTARTED_AFTER_AGENTS_FINISHED);

        JsonNode migration = run.migration();
        assertThat(migration.path("recovered").asBoolean()).isTrue();
        assertThat(migration.path("vm").asString()).as("agents do not know the VM").isEqualTo("unknown");
        assertThat(migration.path("nics").get(0).path("sourceTap").asString()).isEqualTo("tapa3");
    }

    /** A controller that knows no agent until they register; returns once both have. */
    private ControllerProcess startController(String name, String... properties) {
        List<String> all = new ArrayList<>(List.of("server.port=" + controllerPort,
                "netpass.controller.security.agent-registration-token-file=" + registrationToken.toAbsolutePath()));
        all.addAll(controllerProperties());
        all.addAll(List.of(properties));
        ControllerProcess controller = ControllerProcess.start(work.resolve("controller-" + name), agentToken,
                Map.of(), all.toArray(String[]::new));
        awaitRegistered(controller);
        return controller;
    }

    /** Until the controller lists both agents, registered (not configured) and fresh, at their URLs. */
    private void awaitRegistered(ControllerProcess controller) {
        Map<String, String> expected = Map.of("host-a", sourceAgent.baseUri().toString(),
                "host-b", destinationAgent.baseUri().toString());
        JsonNode[] last = new JsonNode[1];
        await(Duration.ofSeconds(15), () -> {
            last[0] = controller.agents();
            Map<String, String> registered = new LinkedHashMap<>();
            last[0].forEach(agent -> {
                if ("registered".equals(agent.path("origin").asString()) && !agent.path("stale").asBoolean()) {
                    registered.put(agent.path("name").asString(), agent.path("baseUrl").asString());
                }
            });
            return registered.equals(expected);
        }, () -> last[0]);
    }

    /**
     * What a switchover left: the migration as the controller finally reports it.
     *
     * @param migration the settled migration
     */
    private record Outcome(JsonNode migration) {
    }

    /**
     * Migrates a VM with address {@code mac} from tap {@code sourceTap} on the source host to {@code destinationTap}
     * on the destination host, driven through the controller as an orchestrator drives it, while the client sends
     * numbered frames; {@code crash} says what happens to the controller meanwhile. Checks everything a switchover
     * must satisfy and returns the settled migration for the checks particular to a test.
     */
    private Outcome migrate(String id, String vm, String sourceTap, String destinationTap, EthernetAddress mac,
            Crash crash) {
        long started = System.nanoTime();
        FakeVm sourceVm = sourceHost.startVm(sourceTap, mac);
        FakeVm destinationVm = destinationHost.startVm(destinationTap, mac);
        sourceHost.ip("link", "set", sourceTap, "txqueuelen", Integer.toString(SOURCE_TAP_QUEUE));
        destinationHost.ip("link", "set", destinationTap, "txqueuelen", Integer.toString(TAP_QUEUE));
        // The bridges learn where the VM is, as they would have long before a migration starts. The announcement
        // floods to the destination tap too, where it is read before the incoming VM stands still.
        sourceVm.announce();
        assertThat(destinationVm.awaitFrames(1, Duration.ofSeconds(5))).hasSize(1);
        // An incoming VM does not run, and so does not read its tap, until switchover.
        destinationVm.pause();

        // The orchestrator asks the controller, which arms both agents; it names them as they registered.
        ControllerClient.Response created = controller().call("POST", "/v1/migrations", Map.of(
                "id", id,
                "vm", vm,
                "sourceAgent", "host-a",
                "destinationAgent", "host-b",
                "nics", List.of(Map.of(
                        "mac", mac.toString(),
                        "sourceTap", sourceTap,
                        "sourceNamespace", sourceHost.namespace().path().toString(),
                        "destinationTap", destinationTap,
                        "destinationNamespace", destinationHost.namespace().path().toString()))));
        assertThat(created.status()).as("%s", created).isEqualTo(202);
        assertThat(created.json().path("sourceAgent").asString()).isEqualTo(sourceAgent.baseUri().toString());
        awaitState(id, "ARMED", ARM_TIMEOUT);
        long armedAt = System.nanoTime();
        String session = id + ".0";
        AgentApi source = sourceAgent.api();
        AgentApi destination = destinationAgent.api();
        assertThat(source.session(session, "source").path("state").asString()).isEqualTo("armed");
        assertThat(destination.session(session, "destination").path("state").asString()).isEqualTo("armed");

        PacedTraffic traffic = PacedTraffic.start(client.trafficTo(mac), sender, RATE);
        long killedAt = 0;
        long restartedAt = 0;
        long switchedAt;
        try {
            traffic.awaitSent(BEFORE_PAUSE, TRAFFIC_TIMEOUT);
            sourceVm.pause();
            long pausedAt = traffic.sent();
            event(id, "SOURCE_PAUSED");
            assertThat(controller().migration(id).path("state").asString()).isEqualTo("SWITCHING");
            if (crash != Crash.NONE) {
                controller().kill();
                killedAt = System.nanoTime();
            }
            if (crash == Crash.RESTARTED_BEFORE_RESUME) {
                traffic.rate(RATE_WHILE_RESTARTING);
                controller = controller().restart();
                restartedAt = System.nanoTime();
                JsonNode recovered = awaitKnown(id);
                assertThat(recovered.path("recovered").asBoolean()).as("%s", recovered).isTrue();
                assertThat(recovered.path("state").asString()).as("%s", recovered).isEqualTo("SWITCHING");
                traffic.rate(RATE);
            }
            traffic.awaitSent(pausedAt + WHILE_PAUSED, TRAFFIC_TIMEOUT);
            // Switchover: the destination VM runs and announces itself; the source stays paused for good.
            destinationVm.resume();
            destinationVm.announce();
            switchedAt = System.nanoTime();
            if (crash != Crash.RESTARTED_AFTER_AGENTS_FINISHED) {
                event(id, "DESTINATION_RESUMED");
            }
            traffic.awaitSent(traffic.sent() + AFTER_SWITCH, TRAFFIC_TIMEOUT);
        } finally {
            traffic.close();
        }
        long total = traffic.stop();

        if (crash == Crash.RESTARTED_AFTER_AGENTS_FINISHED) {
            // With nobody watching, the agents finish the switchover on their own.
            await(Duration.ofSeconds(30), () -> finished(source.session(session, "source"))
                    && finished(destination.session(session, "destination")),
                    () -> source.session(session, "source") + " / " + destination.session(session, "destination"));
            controller = controller().restart();
            restartedAt = System.nanoTime();
        } else {
            event(id, "COMPLETED");
        }
        JsonNode migration = awaitSettled(id);
        long settledAt = System.nanoTime();

        // Every frame has reached a VM by now, unless it was lost.
        awaitQuietly(Duration.ofSeconds(10), () -> sourceVm.sequences().size() + destinationVm.sequences().size()
                >= total);
        ChildProcesses.sleep(Duration.ofMillis(200));
        List<Long> readBySource = sourceVm.sequences();
        List<Long> readByDestination = destinationVm.sequences();

        // The source VM, resumed now that netpass is done, reads what it never read while paused: what was kept.
        List<FakeVm.ReadFrame> backlog = sourceVm.resumeAndReadBacklog(Duration.ofMillis(500), Duration.ofSeconds(10));
        byte[] announcement = FakeVm.announcement(mac);
        List<Long> keptSequences = FakeVm.sequences(backlog);
        long keptAnnouncements = backlog.stream().filter(frame -> Arrays.equals(frame.frame(), announcement)).count();
        assertThat(backlog.size()).as("the paused VM's backlog: numbered frames and the destination VM's announcement")
                .isEqualTo(keptSequences.size() + keptAnnouncements);

        // Every frame sent reached exactly one VM, exactly once.
        SequencedDelivery.assertEachFrameReadOnceByOneVm(total, readBySource, readByDestination, migration);

        // What was kept is exactly what the source VM had not read when it paused, up to where the bridge moved the VM,
        // and the destination VM read each of those frames.
        assertThat(keptSequences).as("kept: the frames after those the source VM read, in order")
                .isEqualTo(range(readBySource.size(), keptSequences.size()));
        assertThat(readByDestination).as("the destination VM read every kept frame").containsAll(keptSequences);
        Set<Long> kept = new HashSet<>(keptSequences);
        assertThat(readByDestination.stream().filter(s -> !kept.contains(s)))
                .as("and directly only frames sent after those").allMatch(s -> s >= readBySource.size()
                        + keptSequences.size());

        // The controller's report: complete, nothing lost, and its counts are the VMs' own.
        assertThat(migration.path("state").asString()).as("%s", migration).isEqualTo("COMPLETED");
        assertThat(migration.path("settled").asBoolean()).isTrue();
        JsonNode report = migration.path("report");
        assertThat(report.path("final").asBoolean()).as("report %s", report).isTrue();
        assertThat(report.path("exact").asBoolean()).as("report %s", report).isTrue();
        assertThat(report.path("droppedFrames").asLong()).as("report %s", report).isZero();
        assertThat(report.path("dropped").properties()).as("report %s", report)
                .allMatch(reason -> reason.getValue().asLong() == 0);
        assertThat(report.path("injectionFailures").asLong()).isZero();
        assertThat(report.path("keptFrames").asLong()).as("kept: every frame the paused source VM never read")
                .isEqualTo(backlog.size());
        // Forwarded also counts frames sent ahead while the source VM lagged and withdrawn when it read them.
        assertThat(report.path("forwardedFrames").asLong())
                .as("forwarded: the kept numbered frames at least; the destination VM's own announcement not")
                .isGreaterThanOrEqualTo(keptSequences.size());
        assertThat(report.path("framesSaved").asLong()).isEqualTo(keptSequences.size());
        assertThat(report.path("injectedFrames").asLong()).as("injected: the kept frames the destination VM read")
                .isEqualTo(keptSequences.size());
        assertThat(report.path("releaseToFirstInjectionMicros").asLong()).isPositive();
        assertThat(report.path("releaseToBurstInjectedMicros").asLong()).isPositive();
        JsonNode nic = report.path("nics").get(0);
        assertThat(nic.path("session").asString()).isEqualTo(session);
        assertThat(nic.path("sourceState").asString()).isEqualTo("completed");
        assertThat(nic.path("destinationState").asString()).isEqualTo("completed");
        assertThat(nic.path("injectedFrames").asLong()).isEqualTo(keptSequences.size());

        // The controller disarmed both sides.
        assertThat(source.sessions()).noneMatch(s -> s.path("migrationId").asString().equals(session));
        assertThat(destination.sessions()).noneMatch(s -> s.path("migrationId").asString().equals(session));

        System.out.printf("%s: sent %d; source VM read %d, kept %d (%d numbered), destination injected %d and read %d "
                        + "directly; release→first injection %d µs, release→burst injected %d µs; "
                        + "armed in %d ms; switchover→settled %d ms%s; whole run %d ms%n",
                id, total, readBySource.size(), backlog.size(), keptSequences.size(),
                report.path("injectedFrames").asLong(), readByDestination.size() - keptSequences.size(),
                report.path("releaseToFirstInjectionMicros").asLong(),
                report.path("releaseToBurstInjectedMicros").asLong(),
                TimeUnit.NANOSECONDS.toMillis(armedAt - started),
                TimeUnit.NANOSECONDS.toMillis(settledAt - switchedAt),
                crash == Crash.NONE ? "" : String.format(" (controller down %d ms, restart→settled %d ms)",
                        TimeUnit.NANOSECONDS.toMillis(restartedAt - killedAt),
                        TimeUnit.NANOSECONDS.toMillis(settledAt - restartedAt)),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        sourceVm.close();
        destinationVm.close();
        return new Outcome(migration);
    }

    private ControllerProcess controller() {
        if (controller == null) {
            throw new IllegalStateException("no controller");
        }
        return controller;
    }

    private void event(String id, String type) {
        ControllerClient.Response response = controller().call("POST", "/v1/migrations/" + id + "/events",
                Map.of("type", type));
        assertThat(response.status()).as("%s: %s", type, response).isEqualTo(202);
    }

    private JsonNode awaitState(String id, String state, Duration timeout) {
        JsonNode[] last = new JsonNode[1];
        await(timeout, () -> {
            last[0] = controller().migration(id);
            return last[0].path("state").asString().equals(state);
        }, () -> last[0]);
        return last[0];
    }

    /** The migration once it is settled: finished, its agents disarmed. */
    private JsonNode awaitSettled(String id) {
        JsonNode[] last = {awaitKnown(id)};
        long since = System.nanoTime();
        boolean[] dumped = {false};
        try {
            await(SETTLE_TIMEOUT, () -> {
                last[0] = controller().migration(id);
                if (!dumped[0] && System.nanoTime() - since > TimeUnit.SECONDS.toNanos(5)) {
                    dumped[0] = true;
                    System.out.printf("%s: not settled after 5 s: %s; source %s; destination %s; dumps %s %s %s%n",
                            id, last[0], sourceAgent.api().sessions(), destinationAgent.api().sessions(),
                            controller().dumpThreads(), sourceAgent.dumpThreads(), destinationAgent.dumpThreads());
                }
                return last[0].path("settled").asBoolean();
            }, () -> last[0]);
        } catch (RuntimeException | AssertionError e) {
            // Where each process was stuck, for the failure to be explained.
            e.addSuppressed(new AssertionError("thread dumps: " + controller().dumpThreads() + ", "
                    + sourceAgent.dumpThreads() + ", " + destinationAgent.dumpThreads()));
            throw e;
        }
        return last[0];
    }

    /**
     * The migration once the controller knows it. A restarted controller reads its state directory and the agents'
     * sessions in the background, usually before it reports ready, but nothing promises that.
     */
    private JsonNode awaitKnown(String id) {
        ControllerClient.Response[] last = new ControllerClient.Response[1];
        await(Duration.ofSeconds(10), () -> {
            last[0] = controller().call("GET", "/v1/migrations/" + id, null);
            return last[0].status() != 404;
        }, () -> last[0]);
        assertThat(last[0].status()).as("%s", last[0]).isEqualTo(200);
        return last[0].json();
    }

    private static boolean finished(JsonNode session) {
        return switch (session.path("state").asString()) {
            case "completed", "aborted", "failed" -> true;
            default -> false;
        };
    }

    private static List<Long> range(long first, int count) {
        List<Long> range = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            range.add(first + i);
        }
        return range;
    }

    private static void awaitQuietly(Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private static void await(Duration timeout, BooleanSupplier condition, Supplier<Object> state) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + timeout + ": " + state.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }
}
