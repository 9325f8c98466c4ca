package io.netpass.agent.api;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.TapCounters;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedDelivery;
import io.netpass.agent.testing.SequencedTraffic;
import io.netpass.agent.testing.TcpProxy;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A whole switchover with two agents as separate JVMs: the source host's agent keeps what its paused VM never read,
 * the destination host's agent sees its VM announce itself, pulls the kept frames over h2c and injects them. A
 * client sends numbered frames throughout; every one must reach exactly one of the two VMs, exactly once.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AgentMigrationIT {

    // Five times the rate of the real-QEMU lab: fast enough for bursts of thousands, slow enough that a fake VM
    // starved of CPU by two agents on two cores does not overflow its tap (which would be the lab's loss, not netpass's).
    private static final int RATE = 5_000;
    private static final int TAP_QUEUE = 1_000;
    private static final Duration SETTLE = Duration.ofSeconds(30);

    private final Path work = Path.of("target", "it-agents", getClass().getSimpleName());

    private NamespaceLab lab;
    private Host sourceHost;
    private Host destinationHost;
    private Client client;
    private FrameSender sender;
    private AgentProcess sourceAgent;
    private AgentProcess destinationAgent;

    /** Starts agent {@code name}: over h2c here; {@link AgentMigrationOverTlsIT} runs the same tests over TLS. */
    protected AgentProcess startAgent(String name, Path workDirectory, String... arguments) {
        return AgentProcess.start(name, workDirectory, arguments);
    }

    @BeforeAll
    void startLabAndAgents() throws Exception {
        // A fake VM delivers every frame it reads, unlike QEMU, which holds the one it reads after its VM stopped.
        String fakeVmReads = "--netpass.agent.forwarding.forward-frame-held-by-vmm=false";
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> startAgent("a", work, fakeVmReads));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> startAgent("b", work, fakeVmReads));
        lab = new NamespaceLab();
        sourceHost = lab.host("src");
        destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        client = lab.client("cl", sourceHost);
        sender = client.sender();
        try {
            sourceAgent = a.get(2, TimeUnit.MINUTES);
        } finally {
            // Kept even when the other agent fails to start, so that the class's clean-up stops it.
            destinationAgent = b.get(2, TimeUnit.MINUTES);
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

    @Test
    void everyFrameReachesExactlyOneVmExactlyOnceAcrossTheSwitchover() throws Exception {
        Switchover run = migrate("m-plain", "tapa1", "tapb1", EthernetAddress.of("52:54:00:6e:71:01"), 2_000, 4_000,
                2_000, sourceAgent.baseUri(), null);

        assertThat(run.destination().path("counters").path("reconnects").asLong()).isZero();
        // Frames the VM left unread for 2 ms before its pause travel ahead too, and are withdrawn when it reads them.
        assertThat(run.source().path("counters").path("forwardedFrames").asLong())
                .as("forwarded once each, nothing resent; the VM's own announcement not at all")
                .isEqualTo(run.keptAtRelease() - 1
                        + run.destination().path("counters").path("withdrawnFrames").asLong());
        assertThat(run.destination().path("counters").path("stagedAtRelease").asLong())
                .as("frames the destination held when its VM ran, injected without waiting for the source")
                .isPositive();
        assertThat(run.destination().path("counters").path("readAfterInjection").asLong()).isZero();
        assertThat(run.source().path("counters").path("keptFrames").asLong())
                .as("still kept: the destination never asked past them").isEqualTo(run.keptAtRelease());
    }

    @Test
    void aStreamCutMidwayResumesWithNothingLostOrRepeated() throws Exception {
        // About 100 B per frame on the wire: 12,000 kept frames take ≈ 5 s through a 250 kB/s link, from the pause
        // (2.4 s at 5,000/s) on, so cuts at 2,000 and 6,000 frames received land inside the stream.
        try (TcpProxy proxy = TcpProxy.to(sourceAgent.apiPort(), 250_000)) {
            Switchover run = migrate("m-cut", "tapa2", "tapb2", EthernetAddress.of("52:54:00:6e:71:02"), 1_000,
                    12_000, 1_000, proxy.uri(sourceAgent.scheme()), proxy);

            assertThat(proxy.cuts()).as("cuts that hit an open stream").isGreaterThanOrEqualTo(2);
            assertThat(proxy.accepted()).as("connections: the first and one after each cut")
                    .isGreaterThanOrEqualTo(3);
            assertThat(run.destination().path("counters").path("reconnects").asLong()).isGreaterThanOrEqualTo(2);
            assertThat(run.source().path("counters").path("forwardedFrames").asLong())
                    .as("frames in flight at a cut are sent again").isGreaterThanOrEqualTo(run.keptAtRelease());
        }
    }

    /**
     * What a switchover left behind, for the checks particular to a test.
     *
     * @param keptAtRelease frames the source kept for the destination (captured − read by the source VM)
     */
    private record Switchover(JsonNode source, JsonNode destination, long keptAtRelease) {
    }

    /**
     * Runs a switchover of a VM with address {@code mac} from tap {@code sourceTap} on the source host to
     * {@code destinationTap} on the destination host while the client sends numbered frames at {@value #RATE}/s:
     * {@code beforePause} frames while the source VM reads, {@code whilePaused} while it is paused, then
     * {@code afterSwitch} once the destination VM has announced itself. The destination agent pulls from
     * {@code pullFrom}; if {@code proxy} is given the test cuts its connections twice mid-stream.
     */
    private Switchover migrate(String migrationId, String sourceTap, String destinationTap, EthernetAddress mac,
            int beforePause, int whilePaused, int afterSwitch, URI pullFrom, @Nullable TcpProxy proxy)
            throws Exception {
        long started = System.nanoTime();
        FakeVm sourceVm = sourceHost.startVm(sourceTap, mac);
        FakeVm destinationVm = destinationHost.startVm(destinationTap, mac);
        // QEMU's taps here have a 1,000-frame ring (the kernel's default for a tun is 500).
        sourceHost.ip("link", "set", sourceTap, "txqueuelen", Integer.toString(TAP_QUEUE));
        destinationHost.ip("link", "set", destinationTap, "txqueuelen", Integer.toString(TAP_QUEUE));
        // The bridges learn where the VM is, as they would have long before a migration starts. The announcement
        // floods to the destination tap too, where it is read before the incoming VM stands still.
        sourceVm.announce();
        assertThat(destinationVm.awaitFrames(1, Duration.ofSeconds(5))).hasSize(1);
        // An incoming VM does not run, and so does not read its tap, until switchover.
        destinationVm.pause();
        AgentApi source = sourceAgent.api();
        AgentApi destination = destinationAgent.api();
        List<String> vmMacs = List.of(mac.toString());

        AgentApi.Response armedSource = source.armSource(migrationId, sourceTap,
                sourceHost.namespace().path().toString(), vmMacs);
        assertThat(armedSource.status()).as("%s", armedSource).isEqualTo(200);
        assertThat(armedSource.json().path("state").asString()).isEqualTo("armed");
        AgentApi.Response armedDestination = destination.armDestination(migrationId, destinationTap,
                destinationHost.namespace().path().toString(), vmMacs, pullFrom);
        assertThat(armedDestination.status()).as("%s", armedDestination).isEqualTo(200);
        int sourceReadAtArm = sourceVm.readFrames().size();

        SequencedTraffic traffic = client.trafficTo(mac);
        int total = beforePause + whilePaused + afterSwitch;
        AtomicLong sent = new AtomicLong();
        // The frames travel from the pause on, ahead of the switchover: the cuts may hit the stream on either side.
        CompletableFuture<Void> cutting = proxy == null ? CompletableFuture.completedFuture(null)
                : CompletableFuture.runAsync(() -> cutTwice(proxy, migrationId));
        CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> sendAtRate(traffic, total, sent));
        await(Duration.ofSeconds(20), () -> sent.get() >= beforePause, sent::get);
        sourceVm.pause();
        await(Duration.ofSeconds(20), () -> sent.get() >= beforePause + whilePaused, sent::get);
        // Switchover: the destination VM runs and QEMU announces it; the source stays paused for good.
        int destinationReadBeforeResume = destinationVm.readFrames().size();
        destinationVm.resume();
        destinationVm.announce();
        long switchedAt = System.nanoTime();
        sending.get(60, TimeUnit.SECONDS);
        cutting.get(60, TimeUnit.SECONDS);

        await(SETTLE, () -> destination.session(migrationId, "destination").path("state").asString()
                .equals("completed"), () -> destination.session(migrationId, "destination"));
        long completedAt = System.nanoTime();
        // Missing frames show in the checks below, with the sessions' counters.
        awaitQuietly(Duration.ofSeconds(10),
                () -> sourceVm.sequences().size() + destinationVm.sequences().size() >= total);
        // Anything still on its way (a duplicate would be) has time to show.
        Thread.sleep(200);

        List<Long> readBySource = sourceVm.sequences();
        List<Long> readByDestination = destinationVm.sequences();
        JsonNode sourceSession = source.session(migrationId, "source");
        JsonNode destinationSession = destination.session(migrationId, "destination");
        JsonNode counters = sourceSession.path("counters");
        JsonNode injected = destinationSession.path("counters");

        // Every frame sent reached exactly one VM, exactly once.
        SequencedDelivery.assertEachFrameReadOnceByOneVm(total, readBySource, readByDestination,
                String.format("sessions %s / %s, taps %s / %s", sourceSession, destinationSession,
                        counters(sourceHost, sourceTap), counters(destinationHost, destinationTap)));
        assertThat(counters(destinationHost, destinationTap).droppedFrames()).as("frames the destination tap dropped")
                .isZero();

        // The source VM reads its tap in order; only forwarded frames can arrive behind newer ones.
        assertThat(readBySource).isSorted();
        int outOfOrder = outOfOrder(readByDestination);

        // The agents' counters agree with what the VMs saw.
        long capturedFrames = counters.path("capturedFrames").asLong();
        long readFrames = counters.path("readFrames").asLong();
        long keptAtRelease = capturedFrames - readFrames;
        long injectedFrames = injected.path("injectedFrames").asLong();
        assertThat(sourceSession.path("state").asString()).isEqualTo("completed");
        assertThat(sourceSession.path("exact").asBoolean()).isTrue();
        assertThat(readFrames).as("reads the source session counted").isEqualTo(sourceVm.readFrames().size()
                - sourceReadAtArm);
        assertThat(injected.path("injectionFailures").asLong()).isZero();
        assertThat(injected.path("skippedAlreadyDelivered").asLong()).isZero();
        // The source tap got frames 0 to N−1 (those sent before the bridge moved the VM) and, flooded, the
        // destination VM's one announcement, which is kept but never forwarded: a VM must not receive itself.
        long announcements = 1;
        assertThat(injected.path("skippedSentByVm").asLong()).as("nothing of the VM's own reached the destination")
                .isZero();
        assertThat(injectedFrames).as("every other kept frame injected once")
                .isEqualTo(keptAtRelease - announcements);
        assertThat(echoedAnnouncements(destinationVm, destinationReadBeforeResume, mac))
                .as("the destination VM read its own announcement back").isZero();
        long sequencedAtSource = capturedFrames - announcements;
        long injectedSequenced = readByDestination.stream().filter(sequence -> sequence < sequencedAtSource).count();
        assertThat(injectedSequenced).as("frames the destination VM read from the injected burst")
                .isEqualTo(injectedFrames);
        assertThat(readBySource.size() + injectedSequenced).isEqualTo(sequencedAtSource);
        assertThat(outOfOrder).as("only injected frames can be overtaken").isLessThanOrEqualTo((int) injectedSequenced);
        assertThat(destinationSession.path("timings").path("releaseToFirstInjectionMicros").asLong()).isPositive();

        System.out.printf("%s: sent %d; source VM read %d, kept %d (%d dropped by its tap), destination injected %d "
                        + "and read %d directly; %d arrived out of order; reconnects %d; release→first injection "
                        + "%d µs, release→burst injected %d µs; switchover→completed %d ms; whole run %d ms%n",
                migrationId, total, readBySource.size(), keptAtRelease, counters.path("keptTapDrops").asLong(),
                injectedFrames, readByDestination.size() - injectedSequenced, outOfOrder,
                injected.path("reconnects").asLong(),
                destinationSession.path("timings").path("releaseToFirstInjectionMicros").asLong(),
                destinationSession.path("timings").path("releaseToBurstInjectedMicros").asLong(),
                TimeUnit.NANOSECONDS.toMillis(completedAt - switchedAt),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));

        assertThat(source.disarm(migrationId, "source").status()).isEqualTo(204);
        assertThat(destination.disarm(migrationId, "destination").status()).isEqualTo(204);
        assertThat(source.sessions()).noneMatch(session -> session.path("migrationId").asString().equals(migrationId));
        assertThat(destination.sessions())
                .noneMatch(session -> session.path("migrationId").asString().equals(migrationId));
        sourceVm.close();
        destinationVm.close();
        return new Switchover(sourceSession, destinationSession, keptAtRelease);
    }

    private void sendAtRate(SequencedTraffic traffic, int total, AtomicLong sent) {
        long interval = TimeUnit.SECONDS.toNanos(1) / RATE;
        long start = System.nanoTime();
        for (int i = 0; i < total; i++) {
            long due = start + i * interval;
            for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                LockSupport.parkNanos(wait);
            }
            sender.send(traffic.frame(i));
            sent.set(i + 1);
        }
    }

    /** Cuts the destination's stream twice while frames travel on it, before or after its VM runs. */
    private void cutTwice(TcpProxy proxy, String migrationId) {
        AgentApi destination = destinationAgent.api();
        for (long threshold : new long[] {2_000, 6_000}) {
            int cutsBefore = proxy.cuts();
            await(Duration.ofSeconds(30), () -> {
                JsonNode session = destination.session(migrationId, "destination");
                JsonNode counters = session.path("counters");
                String state = session.path("state").asString();
                boolean open = state.equals("armed") || state.equals("forwarding");
                // A cut after the stream ended would only reset an idle pooled connection, proving nothing.
                if (counters.path("stagedFrames").asLong() + counters.path("injectedFrames").asLong() >= threshold
                        && open) {
                    proxy.cut();
                }
                boolean done = proxy.cuts() > cutsBefore || !open;
                // Polling gently: the VMs and agents share two cores with this test.
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
                return done;
            }, () -> destination.session(migrationId, "destination"));
        }
    }

    /** Frames read after a higher-numbered one; logged with how far back they were. */
    private static int outOfOrder(List<Long> read) {
        long highest = -1;
        int late = 0;
        long furthest = 0;
        for (long sequence : read) {
            if (sequence < highest) {
                late++;
                furthest = Math.max(furthest, highest - sequence);
            }
            highest = Math.max(highest, sequence);
        }
        System.out.printf("destination VM: %d of %d frames arrived after a higher-numbered one (up to %d behind)%n",
                late, read.size(), furthest);
        return late;
    }

    /** Copies of its own announcement the destination VM read after it resumed. */
    private static long echoedAnnouncements(FakeVm vm, int readBeforeResume, EthernetAddress mac) {
        byte[] announcement = FakeVm.announcement(mac);
        List<FakeVm.ReadFrame> read = vm.readFrames();
        return read.subList(readBeforeResume, read.size()).stream().filter(frame -> java.util.Arrays.equals(frame.frame(), announcement)).count();
    }

    private static TapCounters counters(Host host, String tap) {
        try (NetworkLinks links = NetworkLinks.open(host.network())) {
            return links.byName(tap).counters();
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
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }
}
