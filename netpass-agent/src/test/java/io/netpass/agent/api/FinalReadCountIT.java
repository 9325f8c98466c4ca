package io.netpass.agent.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.stream.PeerDatagram;
import io.netpass.agent.stream.SourceRead;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.ProcessThreads;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The destination injects the frames it holds only on the source's final count of its VM's reads, the one it takes
 * when it learns of the switchover (docs/frame-stream.md, "Exactness"). With the source agent frozen (SIGSTOP)
 * across the switchover, as a host starved of CPU freezes it, no such count comes: the destination waits and injects
 * once the source thaws; frozen past the reads-accounted timeout, it injects anyway and counts the release. The count
 * comes first by datagram, which only the migration's key opens, and on the stream alone to a destination that asks
 * for no datagram. Where the moved VM's announcement does not flood back to the source's old tap, the source learns
 * of the switchover from the destination's release datagram, or from its HTTP request if it takes no datagrams.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FinalReadCountIT {

    private static final int KEPT = 200;
    private static final Pattern RELEASE_PATH_THREAD = Pattern.compile("final-count-rec|watch-|inject-");
    private static final Duration FROZEN_BEFORE_RESUME = Duration.ofMillis(60);
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private final Path work = Path.of("target", "it-agents", getClass().getSimpleName());
    private NamespaceLab lab;
    private Host sourceHost;
    private Host destinationHost;
    private Client client;
    private AgentProcess sourceAgent;
    private AgentProcess destinationAgent;
    /**
     * A destination that asks for no final-count datagram: the count comes on the stream alone. As a source it takes
     * no release datagram: the release comes by HTTP request alone.
     */
    private AgentProcess streamOnlyDestinationAgent;
    private final int destinationDatagramPort = freeUdpPort();

    @BeforeAll
    void start() throws Exception {
        // A fake VM delivers every frame it reads, unlike QEMU (see AgentMigrationIT).
        String fakeVmReads = "--netpass.agent.forwarding.forward-frame-held-by-vmm=false";
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", work,
                fakeVmReads));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> AgentProcess.start("b", work,
                fakeVmReads, "--netpass.agent.forwarding.reads-accounted-timeout=1s",
                "--netpass.agent.final-count.port=" + destinationDatagramPort));
        CompletableFuture<AgentProcess> c = CompletableFuture.supplyAsync(() -> AgentProcess.start("c", work,
                fakeVmReads, "--netpass.agent.final-count.enabled=false"));
        lab = new NamespaceLab();
        sourceHost = lab.host("src");
        destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        client = lab.client("cl", sourceHost);
        try {
            sourceAgent = a.get(2, TimeUnit.MINUTES);
        } finally {
            // Kept even when another agent fails to start, so that the class's clean-up stops it.
            try {
                destinationAgent = b.get(2, TimeUnit.MINUTES);
            } finally {
                streamOnlyDestinationAgent = c.get(2, TimeUnit.MINUTES);
            }
        }
    }

    @AfterAll
    void stop() {
        try {
            AgentProcess.closeCheckingLeaks(sourceAgent, destinationAgent, streamOnlyDestinationAgent);
        } finally {
            if (lab != null) {
                lab.close();
            }
        }
    }

    @Test
    void theDestinationWaitsForTheSourcesFinalCountOfItsVmsReadsBeforeItInjects() throws Exception {
        try (Switchover run = Switchover.prepare(this, "m-stale-wait", "tapa1", "tapb1",
                EthernetAddress.of("52:54:00:6e:73:01"))) {
            signal(sourceAgent, "STOP");
            try {
                LockSupport.parkNanos(FROZEN_BEFORE_RESUME.toNanos());
                run.resumeDestination();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(300));
                JsonNode waiting = run.destinationSession();
                assertThat(waiting.path("counters").path("injectedFrames").asLong())
                        .as("injected without the final count: %s", waiting).isZero();
                assertThat(waiting.path("state").asString()).isEqualTo("forwarding");
            } finally {
                signal(sourceAgent, "CONT");
            }
            JsonNode destination = run.awaitAllInjected();
            assertThat(destination.path("timings").path("releaseToFinalCountMicros").asLong())
                    .as("%s", destination).isGreaterThanOrEqualTo(300_000);
            assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong()).isZero();
            run.assertEveryFrameReadOnce();
        }
    }

    @Test
    void frozenPastTheReadsAccountedTimeoutTheDestinationInjectsAnywayAndCountsIt() throws Exception {
        try (Switchover run = Switchover.prepare(this, "m-stale-timeout", "tapa2", "tapb2",
                EthernetAddress.of("52:54:00:6e:73:02"))) {
            signal(sourceAgent, "STOP");
            try {
                LockSupport.parkNanos(FROZEN_BEFORE_RESUME.toNanos());
                run.resumeDestination();
                JsonNode destination = run.awaitAllInjected();
                assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong())
                        .as("%s", destination).isEqualTo(1);
                assertThat(destination.path("timings").path("releaseToFirstInjectionMicros").asLong())
                        .as("after the 1 s reads-accounted timeout").isGreaterThanOrEqualTo(1_000_000);
            } finally {
                signal(sourceAgent, "CONT");
            }
            run.assertEveryFrameReadOnce();
        }
    }

    @Test
    void theFinalCountComesByDatagramAndTheFramesAreInjectedExactlyOnce() throws Exception {
        long acceptedBefore = datagrams("accepted");
        try (Switchover run = Switchover.prepare(this, "m-datagram", "tapa3", "tapb3",
                EthernetAddress.of("52:54:00:6e:73:03"))) {
            run.resumeDestination();

            JsonNode destination = run.awaitAllInjected();
            assertThat(destination.path("counters").path("finalCountByDatagram").asLong()).as("%s", destination)
                    .isEqualTo(1);
            assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong()).isZero();
            assertThat(datagrams("accepted")).isEqualTo(acceptedBefore + 1);
            // The release burst ran under SCHED_FIFO (on by default; root has CAP_SYS_NICE) and ended.
            assertThat(destination.path("timings").path("burstRealTimeMicros").asLong()).as("%s", destination)
                    .isBetween(0L, 1_000_000L);
            run.assertEveryFrameReadOnce();
            // The stream's copy of the count, which comes after, says the same: nothing was read after injection.
            await(() -> run.destinationSession().path("state").asString().equals("completed"), run);
            assertThat(run.destinationSession().path("counters").path("readAfterInjection").asLong()).isZero();
            // The burst ran under SCHED_FIFO (the default) and gave it up: no thread of the agent keeps it.
            Map<String, Integer> policies = ProcessThreads.policyByName(destinationAgent.pid());
            assertThat(policies.values()).as("%s", policies).containsOnly(0);
        }
    }

    @Test
    void aDestinationThatAsksForNoDatagramGetsTheFinalCountOnTheStreamAlone() throws Exception {
        try (Switchover run = Switchover.prepare(this, streamOnlyDestinationAgent, "m-stream-only", "tapa5", "tapb5",
                EthernetAddress.of("52:54:00:6e:73:05"))) {
            run.resumeDestination();

            JsonNode destination = run.awaitAllInjected();
            assertThat(destination.path("counters").path("finalCountByDatagram").asLong()).as("%s", destination)
                    .isZero();
            assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong()).isZero();
            run.assertEveryFrameReadOnce();
        }
    }

    @Test
    void theReleasePathsThreadsRunAtTheConfiguredNiceValueAndNoOtherThreadDoes() throws Exception {
        Map<String, Integer> niceByThread = ProcessThreads.niceByName(destinationAgent.pid());
        assertThat(niceByThread).as("%s", niceByThread).containsEntry("final-count-rec", -10);
        Map<String, Integer> others = new TreeMap<>(niceByThread);
        others.keySet().removeIf(name -> RELEASE_PATH_THREAD.matcher(name).lookingAt());
        assertThat(others).isNotEmpty();
        assertThat(others.values()).as("%s", others).containsOnly(0);
    }

    @Test
    void datagramsNotSealedWithTheMigrationsKeyAreRefusedAndWithdrawNothing() throws Exception {
        try (Switchover run = Switchover.prepare(this, "m-forged", "tapa4", "tapb4",
                EthernetAddress.of("52:54:00:6e:73:04"))) {
            long refusedBefore = datagrams("refused");
            long unknownBefore = datagrams("unknown_migration");
            // "The source VM read every frame": were it believed, the destination would drop all it holds.
            SourceRead readEverything = new SourceRead(KEPT, 0, true);
            try (DatagramChannel channel = DatagramChannel.open()) {
                InetSocketAddress destination = new InetSocketAddress("127.0.0.1", destinationDatagramPort);
                channel.send(ByteBuffer.wrap(PeerDatagram.sealer(PeerDatagram.Kind.FINAL_COUNT, "m-forged",
                        PeerDatagram.newKey()).sealFinalCount(readEverything, null)), destination);
                channel.send(ByteBuffer.wrap("not a datagram of ours".getBytes(StandardCharsets.US_ASCII)),
                        destination);
                channel.send(ByteBuffer.wrap(PeerDatagram.sealer(PeerDatagram.Kind.FINAL_COUNT, "m-nobody-armed",
                        PeerDatagram.newKey()).sealFinalCount(readEverything, null)), destination);
            }
            await(() -> datagrams("refused") == refusedBefore + 2 && datagrams("unknown_migration") == unknownBefore + 1,
                    run);
            assertThat(destinationAgent.logText().lines().filter(line -> line.contains("datagram from")
                    && line.contains("refused")).count()).as("refusals logged at most once every 10 s").isEqualTo(1);
            JsonNode untouched = run.destinationSession();
            assertThat(untouched.path("counters").path("stagedFrames").asLong()).as("%s", untouched).isEqualTo(KEPT);
            assertThat(untouched.path("counters").path("withdrawnFrames").asLong()).isZero();

            run.resumeDestination();

            run.awaitAllInjected();
            run.assertEveryFrameReadOnce();
        }
    }

    @Test
    void withoutFloodBackTheSourceIsReleasedByTheDestinationsDatagramAndEveryFrameArrivesOnce() throws Exception {
        long releasedByDatagram = sourceAgent.meterSum("netpass_agent_source_releases_total",
                "trigger=\"release_datagram\"");
        long releasesAccepted = sourceAgent.meterSum("netpass_agent_final_count_datagrams_received_total",
                "kind=\"release\"", "outcome=\"accepted\"");
        try (Switchover run = Switchover.prepare(this, sourceAgent, destinationAgent, false, "m-release-datagram",
                "tapa6", "tapb6", EthernetAddress.of("52:54:00:6e:73:06"))) {
            run.resumeDestination();

            JsonNode destination = run.awaitAllInjected();
            run.assertEveryFrameReadOnce();
            JsonNode source = run.sourceSession();
            assertThat(source.path("releaseTrigger").asString()).as("%s", source).isEqualTo("release_datagram");
            assertThat(sourceAgent.meterSum("netpass_agent_source_releases_total", "trigger=\"release_datagram\""))
                    .isEqualTo(releasedByDatagram + 1);
            assertThat(sourceAgent.meterSum("netpass_agent_final_count_datagrams_received_total",
                    "kind=\"release\"", "outcome=\"accepted\"")).isEqualTo(releasesAccepted + 1);
            // The source answered the datagram with its final count by datagram, as it does a flooded-back frame.
            assertThat(destination.path("counters").path("finalCountByDatagram").asLong()).isEqualTo(1);
            assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong()).isZero();
            // The HTTP request, sent as well, changes nothing: the release is idempotent.
            await(() -> run.destinationSession().path("state").asString().equals("completed"), run);
            assertThat(run.sourceSession().path("releaseTrigger").asString()).isEqualTo("release_datagram");
            assertThat(run.destinationSession().path("counters").path("readAfterInjection").asLong()).isZero();
        }
    }

    @Test
    void withoutFloodBackASourceThatTakesNoDatagramsIsReleasedByTheHttpRequest() throws Exception {
        long releaseDatagramsSent = destinationAgent.meterSum("netpass_agent_final_count_datagrams_sent_total",
                "kind=\"release\"");
        try (Switchover run = Switchover.prepare(this, streamOnlyDestinationAgent, destinationAgent, false,
                "m-release-request", "tapa7", "tapb7", EthernetAddress.of("52:54:00:6e:73:07"))) {
            run.resumeDestination();

            JsonNode destination = run.awaitAllInjected();
            run.assertEveryFrameReadOnce();
            JsonNode source = run.sourceSession();
            assertThat(source.path("releaseTrigger").asString()).as("%s", source).isEqualTo("release_request");
            assertThat(destinationAgent.meterSum("netpass_agent_final_count_datagrams_sent_total",
                    "kind=\"release\"")).as("no port, no release datagram").isEqualTo(releaseDatagramsSent);
            assertThat(destination.path("counters").path("releasesWithoutFinalCount").asLong()).isZero();
        }
    }

    /** The destination agent's count of datagrams received with {@code outcome}, of every kind. */
    private long datagrams(String outcome) {
        return destinationAgent.meterSum("netpass_agent_final_count_datagrams_received_total",
                "outcome=\"" + outcome + "\"");
    }

    private static int freeUdpPort() {
        try (DatagramChannel channel = DatagramChannel.open()) {
            channel.bind(new InetSocketAddress("127.0.0.1", 0));
            return ((InetSocketAddress) channel.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Two armed hosts whose paused source VM was sent {@value #KEPT} frames, all held by the destination. */
    private record Switchover(FinalReadCountIT test, AgentProcess sourceAgent, AgentProcess destinationAgent,
            String migrationId, FakeVm sourceVm, FakeVm destinationVm) implements AutoCloseable {

        static Switchover prepare(FinalReadCountIT test, String migrationId, String sourceTap, String destinationTap,
                EthernetAddress mac) {
            return prepare(test, test.destinationAgent, migrationId, sourceTap, destinationTap, mac);
        }

        static Switchover prepare(FinalReadCountIT test, AgentProcess destinationAgent, String migrationId,
                String sourceTap, String destinationTap, EthernetAddress mac) {
            return prepare(test, test.sourceAgent, destinationAgent, true, migrationId, sourceTap, destinationTap,
                    mac);
        }

        /** Without {@code floodBack}, the moved VM's announcement does not reach the source's tap. */
        static Switchover prepare(FinalReadCountIT test, AgentProcess sourceAgent, AgentProcess destinationAgent,
                boolean floodBack, String migrationId, String sourceTap, String destinationTap, EthernetAddress mac) {
            FakeVm sourceVm = test.sourceHost.startVm(sourceTap, mac);
            FakeVm destinationVm = test.destinationHost.startVm(destinationTap, mac);
            sourceVm.announce();
            assertThat(destinationVm.awaitFrames(1, Duration.ofSeconds(5))).hasSize(1);
            destinationVm.pause();
            List<String> macs = List.of(mac.toString());
            assertThat(sourceAgent.api().armSource(migrationId, sourceTap,
                    test.sourceHost.namespace().path().toString(), macs).status()).isEqualTo(200);
            assertThat(destinationAgent.api().armDestination(migrationId, destinationTap,
                    test.destinationHost.namespace().path().toString(), macs, sourceAgent.baseUri()).status())
                    .isEqualTo(200);
            if (!floodBack) {
                test.sourceHost.stopFloodingBroadcastsTo(sourceTap);
            }
            Switchover run = new Switchover(test, sourceAgent, destinationAgent, migrationId, sourceVm, destinationVm);
            sourceVm.pause();
            try (FrameSender sender = test.client.sender()) {
                sender.send(test.client.trafficTo(mac), 0, KEPT);
            }
            await(() -> run.destinationSession().path("counters").path("stagedFrames").asLong() == KEPT, run);
            return run;
        }

        void resumeDestination() {
            destinationVm.resume();
            destinationVm.announce();
        }

        JsonNode destinationSession() {
            return destinationAgent.api().session(migrationId, "destination");
        }

        JsonNode sourceSession() {
            return sourceAgent.api().session(migrationId, "source");
        }

        /** The destination session once it injected every kept frame. */
        JsonNode awaitAllInjected() {
            await(() -> destinationSession().path("counters").path("injectedFrames").asLong() == KEPT, this);
            return destinationSession();
        }

        /** The destination VM read every frame sent, once each, in order (after the source VM's announcement). */
        void assertEveryFrameReadOnce() {
            assertThat(destinationVm.awaitFrames(KEPT + 1, TIMEOUT)).hasSize(KEPT + 1);
            assertThat(destinationVm.sequences()).containsExactlyElementsOf(sent());
        }

        List<Long> sent() {
            return java.util.stream.LongStream.range(0, KEPT).boxed().toList();
        }

        @Override
        public void close() {
            sourceAgent.api().disarm(migrationId, "source");
            destinationAgent.api().disarm(migrationId, "destination");
            sourceVm.close();
            destinationVm.close();
        }
    }

    private static void signal(AgentProcess agent, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(agent.pid())).inheritIO().start();
        assertThat(kill.waitFor()).as("kill -%s", signal).isZero();
    }

    private static void await(BooleanSupplier condition, Switchover run) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("%s", run.destinationSession()).isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }
}
