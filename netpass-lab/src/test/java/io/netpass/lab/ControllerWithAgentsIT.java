package io.netpass.lab;

import java.net.URI;
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
import java.util.concurrent.atomic.AtomicLong;
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
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;
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

    private final Path work = Path.of("target", "it-e2e", getClass().getSimpleName());

    private NamespaceLab lab;
    private Host sourceHost;
    private Host destinationHost;
    private Client client;
    private FrameSender sender;
    private Path agentToken;
    private AgentProcess sourceAgent;
    private AgentProcess destinationAgent;

    /** The controller of the running test; replaced when the test restarts it. */
    private @Nullable ControllerProcess controller;

    /** Starts agent {@code name}: over h2c here; {@link ControllerWithAgentsOverTlsIT} runs the tests over TLS. */
    protected AgentProcess startAgent(String name, Path workDirectory, String... arguments) {
        return AgentProcess.start(name, workDirectory, arguments);
    }

    /** More controller properties: none here; TLS towards the agents in {@link ControllerWithAgentsOverTlsIT}. */
    protected List<String> controllerProperties() {
        return List.of();
    }

    @BeforeAll
    void startLabAndAgents() throws Exception {
        // A state directory left by an earlier run would hand the controller migrations of agents long gone.
        FileSystemUtils.deleteRecursively(work);
        Files.createDirectories(work);
        // One token, as one Kubernetes Secret: the controller presents it, every agent accepts it.
        agentToken = Files.writeString(work.resolve("controller-to-agents.token"),
                "controller-" + Long.toHexString(System.nanoTime()) + "\n");
        String[] agentArguments = {
            "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
            // A fake VM delivers every frame it reads, unlike QEMU, which holds the one it reads after its VM stopped.
            "--netpass.agent.forwarding.forward-frame-held-by-vmm=false",
        };
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> startAgent("a", work, agentArguments));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> startAgent("b", work, agentArguments));
        lab = new NamespaceLab();
        sourceHost = lab.host("src");
        destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        client = lab.client("cl", sourceHost);
        sender = client.sender();
        sourceAgent = a.get(2, TimeUnit.MINUTES);
        destinationAgent = b.get(2, TimeUnit.MINUTES);
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
        AssertionError leaks = null;
        for (AgentProcess agent : new AgentProcess[] {sourceAgent, destinationAgent}) {
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
        if (sender != null) {
            sender.close();
        }
        if (lab != null) {
            lab.close();
        }
        if (leaks != null) {
            throw leaks;
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

    private ControllerProcess startController(String name, String... properties) {
        Map<String, URI> agents = new LinkedHashMap<>();
        agents.put("host-a", sourceAgent.baseUri());
        agents.put("host-b", destinationAgent.baseUri());
        List<String> all = new ArrayList<>(controllerProperties());
        all.addAll(List.of(properties));
        return ControllerProcess.start(work.resolve("controller-" + name), agentToken, agents,
                all.toArray(String[]::new));
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

        // The orchestrator asks the controller, which arms both agents.
        ControllerProcess.Response created = controller().call("POST", "/v1/migrations", Map.of(
                "id", id,
                "vm", vm,
                "sourceAgent", sourceAgent.baseUri().toString(),
                "destinationAgent", destinationAgent.baseUri().toString(),
                "nics", List.of(Map.of(
                        "mac", mac.toString(),
                        "sourceTap", sourceTap,
                        "sourceNamespace", sourceHost.namespace().path().toString(),
                        "destinationTap", destinationTap,
                        "destinationNamespace", destinationHost.namespace().path().toString()))));
        assertThat(created.status()).as("%s", created).isEqualTo(202);
        awaitState(id, "ARMED", ARM_TIMEOUT);
        long armedAt = System.nanoTime();
        String session = id + ".0";
        AgentApi source = sourceAgent.api();
        AgentApi destination = destinationAgent.api();
        assertThat(source.session(session, "source").path("state").asString()).isEqualTo("armed");
        assertThat(destination.session(session, "destination").path("state").asString()).isEqualTo("armed");

        Traffic traffic = new Traffic(client.trafficTo(mac));
        // A thread of its own: on two cores the common pool has one worker, which the sender would hold throughout.
        CompletableFuture<Void> sending = new CompletableFuture<>();
        Thread.ofPlatform().name("traffic-" + id).daemon().start(() -> {
            try {
                traffic.send();
                sending.complete(null);
            } catch (RuntimeException | Error e) {
                sending.completeExceptionally(e);
            }
        });
        long killedAt = 0;
        long restartedAt = 0;
        long switchedAt;
        try {
            traffic.await(BEFORE_PAUSE);
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
            traffic.await(pausedAt + WHILE_PAUSED);
            // Switchover: the destination VM runs and announces itself; the source stays paused for good.
            destinationVm.resume();
            destinationVm.announce();
            switchedAt = System.nanoTime();
            if (crash != Crash.RESTARTED_AFTER_AGENTS_FINISHED) {
                event(id, "DESTINATION_RESUMED");
            }
            traffic.await(traffic.sent() + AFTER_SWITCH);
        } finally {
            traffic.stop();
            join(sending);
        }
        long total = traffic.sent();

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
        awaitQuietly(Duration.ofSeconds(10), () -> sequenced(sourceVm).size() + sequenced(destinationVm).size()
                >= total);
        sleep(Duration.ofMillis(200));
        List<Long> readBySource = sequenced(sourceVm);
        List<Long> readByDestination = sequenced(destinationVm);

        // The source VM, resumed now that netpass is done, reads what it never read while paused: what was kept.
        int readBeforeBacklog = sourceVm.readFrames().size();
        sourceVm.resume();
        awaitQuiet(sourceVm, Duration.ofMillis(500), Duration.ofSeconds(10));
        List<FakeVm.ReadFrame> backlog = sourceVm.readFrames().subList(readBeforeBacklog,
                sourceVm.readFrames().size());
        byte[] announcement = FakeVm.announcement(mac);
        List<Long> keptSequences = backlog.stream().mapToLong(FakeVm.ReadFrame::sequence).filter(s -> s >= 0).boxed()
                .toList();
        long keptAnnouncements = backlog.stream().filter(frame -> Arrays.equals(frame.frame(), announcement)).count();
        assertThat(backlog.size()).as("the paused VM's backlog: numbered frames and the destination VM's announcement")
                .isEqualTo(keptSequences.size() + keptAnnouncements);

        // Every frame sent reached exactly one VM, exactly once.
        assertThat(new HashSet<>(readBySource)).as("duplicates at the source VM").hasSize(readBySource.size());
        assertThat(new HashSet<>(readByDestination)).as("duplicates at the destination VM")
                .hasSize(readByDestination.size());
        Set<Long> both = new HashSet<>(readBySource);
        both.retainAll(new HashSet<>(readByDestination));
        assertThat(both).as("frames both VMs read").isEmpty();
        Set<Long> union = new HashSet<>(readBySource);
        union.addAll(readByDestination);
        List<Long> missing = new ArrayList<>();
        for (long sequence = 0; sequence < total; sequence++) {
            if (!union.contains(sequence)) {
                missing.add(sequence);
            }
        }
        assertThat(missing).as("frames no VM read (source read %d, destination %d, migration %s)",
                readBySource.size(), readByDestination.size(), migration).isEmpty();

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
        assertThat(report.path("forwardedFrames").asLong())
                .as("forwarded: the kept numbered frames; the destination VM's own announcement not")
                .isEqualTo(keptSequences.size());
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
        ControllerProcess.Response response = controller().call("POST", "/v1/migrations/" + id + "/events",
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
        ControllerProcess.Response[] last = new ControllerProcess.Response[1];
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

    /** The client's numbered frames to one VM, at a rate the test may change, until stopped. */
    private final class Traffic {

        private final SequencedTraffic frames;
        private final AtomicLong sent = new AtomicLong();
        private volatile long intervalNanos = TimeUnit.SECONDS.toNanos(1) / RATE;
        private volatile boolean stopped;

        Traffic(SequencedTraffic frames) {
            this.frames = frames;
        }

        void send() {
            long due = System.nanoTime();
            for (long sequence = 0; !stopped; sequence++) {
                for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                    LockSupport.parkNanos(wait);
                }
                sender.send(frames.frame(sequence));
                sent.set(sequence + 1);
                due += intervalNanos;
            }
        }

        void rate(int framesPerSecond) {
            intervalNanos = TimeUnit.SECONDS.toNanos(1) / framesPerSecond;
        }

        long sent() {
            return sent.get();
        }

        /** Waits until {@code count} frames were sent. */
        void await(long count) {
            ControllerWithAgentsIT.await(Duration.ofSeconds(20), () -> sent.get() >= count, sent::get);
        }

        void stop() {
            stopped = true;
        }
    }

    /** Sequence numbers of the numbered frames {@code vm} read, in the order read. */
    private static List<Long> sequenced(FakeVm vm) {
        return vm.readFrames().stream().mapToLong(FakeVm.ReadFrame::sequence).filter(s -> s >= 0).boxed().toList();
    }

    private static List<Long> range(long first, int count) {
        List<Long> range = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            range.add(first + i);
        }
        return range;
    }

    /** Waits until {@code vm} has read nothing new for {@code quiet}, at most {@code timeout}. */
    private static void awaitQuiet(FakeVm vm, Duration quiet, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int count = -1;
        long changedAt = System.nanoTime();
        while (System.nanoTime() < deadline) {
            int now = vm.readFrames().size();
            if (now != count) {
                count = now;
                changedAt = System.nanoTime();
            } else if (System.nanoTime() - changedAt > quiet.toNanos()) {
                return;
            }
            sleep(Duration.ofMillis(20));
        }
        throw new AssertionError(vm.tapName() + " still reading after " + timeout);
    }

    private static void join(CompletableFuture<Void> future) {
        try {
            future.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("sending failed", e);
        }
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

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
