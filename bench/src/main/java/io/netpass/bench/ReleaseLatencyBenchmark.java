package io.netpass.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

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

/**
 * How long the destination agent takes, once it sees its VM run, to inject the frames the source kept: two agent
 * JVMs and fake VMs in namespaces, as {@code AgentMigrationIT} sets them up, the source VM paused with
 * {@code frames} kept frames, then the destination VM resumes and sends its RARP ({@link FakeVm#announce()}).
 *
 * <p>Per switchover it reports the destination session's own timings (VM seen running → first forwarded frame
 * injected, → last kept frame injected) and, as a cross-check from outside, the destination fake VM's read times
 * from the moment the RARP was written (RARP → seen, from the session's {@code releasedAt} against the wall clock;
 * RARP → first and → last kept frame read by the VM, from {@link System#nanoTime()}, which both processes read from
 * the same monotonic clock).
 *
 * <p>Cold: the first switchover of freshly started agents ({@code cold} agent pairs). Warm: after {@code warmup}
 * switchovers on the last pair, {@code warm} more.
 *
 * <p>Arguments: {@code frames=2000 size=128 cold=5 warmup=5 warm=10 testJvm=0 floodBack=1} ({@code testJvm=1}: the
 * agents get the test agents' JVM options, leak detector at paranoid and C1 only; {@code agentJvm=-Xlog:…;-X…}: more
 * agent JVM options, separated by {@code ;}; {@code floodBack=0}: the moved VM's announcement never reaches the old
 * tap, as under KubeVirt's masquerade binding or on a routed network, so the source learns of the switchover only
 * from the destination: its release datagram, or its {@code POST …/release}).
 */
public final class ReleaseLatencyBenchmark {

    private static final Path WORK = Path.of("bench", "target", "release-agents");
    /** The agents' JVM as a deployment would run it: no leak detector, full JIT; a small heap, as in the tests. */
    static final List<String> BENCH_AGENT_JVM = List.of("-XX:+UseSerialGC", "-Xmx384m");
    // A fake VM delivers every frame it reads, unlike QEMU, which holds the one it reads after its VM stopped.
    private static final String FAKE_VM_READS = "--netpass.agent.forwarding.forward-frame-held-by-vmm=false";
    // The agents share this JVM's classpath, whose logback.xml logs warnings only; their logs keep the sessions' INFO.
    private static final String AGENT_LOGS = "--logging.level.io.netpass=INFO";
    private static final long MAC_BASE = 0x52_54_00_6e_72_00L;
    private static final int SEND_RATE = 20_000;
    private static final int TAP_QUEUE = 1_000;
    // A switchover completes a quiet period (300 ms) after its burst; one that has not within this has stalled.
    private static final Duration SETTLE = Duration.ofSeconds(5);

    /**
     * One switchover's figures, in microseconds.
     *
     * @param seenToFirst the destination session's releaseToFirstInjectionMicros
     * @param seenToLast the destination session's releaseToBurstInjectedMicros
     * @param rarpToSeen RARP written → the session's releasedAt (wall clock, µs resolution)
     * @param rarpToFirstRead RARP written → the destination VM read the first kept frame
     * @param rarpToLastRead RARP written → the destination VM read the last kept frame
     */
    record Switchover(long kept, long injected, long read, long seenToFirst, long seenToLast, long rarpToSeen,
            long rarpToFirstRead, long rarpToLastRead, Map<String, Long> hops, String releaseTrigger, double load,
            boolean stalled) {

        @Override
        public String toString() {
            return (stalled ? "STALLED " : "") + String.format(Locale.ROOT,
                    "kept %d, injected %d, VM read %d | agent: seen→first %5d µs, seen→last %5d µs | VM: RARP→seen"
                            + " %5d µs, RARP→first read %5d µs, RARP→last read %5d µs (seen→last read %5d µs)"
                            + " | load %.2f",
                    kept, injected, read, seenToFirst, seenToLast, rarpToSeen, rarpToFirstRead, rarpToLastRead,
                    rarpToLastRead - rarpToSeen, load) + "\n          hops from seen (µs): " + hops
                    + "; source released by " + releaseTrigger;
        }
    }

    /** The figures of several switchovers. */
    static final class Figures {
        final Samples seenToFirst = new Samples();
        final Samples seenToLast = new Samples();
        final Samples rarpToSeen = new Samples();
        final Samples rarpToFirstRead = new Samples();
        final Samples rarpToLastRead = new Samples();
        final Samples seenToLastRead = new Samples();
        final Samples load = new Samples();
        final Map<String, Samples> hops = new LinkedHashMap<>();
        int stalled;

        void add(Switchover s) {
            if (s.stalled()) {
                stalled++;
                return;
            }
            seenToFirst.add(s.seenToFirst());
            seenToLast.add(s.seenToLast());
            rarpToSeen.add(s.rarpToSeen());
            rarpToFirstRead.add(s.rarpToFirstRead());
            rarpToLastRead.add(s.rarpToLastRead());
            seenToLastRead.add(s.rarpToLastRead() - s.rarpToSeen());
            load.add(s.load());
            s.hops().forEach((hop, micros) -> hops.computeIfAbsent(hop, h -> new Samples()).add(micros));
        }

        String summary(String name) {
            return String.format(Locale.ROOT, """
                    %s (µs, median (min–max, n)), load %s, stalled switchovers left out: %d
                      agent   seen → first injected     %s
                      agent   seen → last kept injected %s
                      VM      RARP → seen               %s
                      VM      RARP → first read         %s
                      VM      RARP → last kept read     %s
                      VM      seen → last kept read     %s""", name, load.summary("%.2f"), stalled,
                    seenToFirst.summary("%.0f"), seenToLast.summary("%.0f"), rarpToSeen.summary("%.0f"),
                    rarpToFirstRead.summary("%.0f"), rarpToLastRead.summary("%.0f"),
                    seenToLastRead.summary("%.0f")) + hopSummary();
        }

        private String hopSummary() {
            StringBuilder summary = new StringBuilder("\n  hops, µs from the destination seeing its VM run:");
            hops.forEach((hop, samples) -> summary.append(String.format(Locale.ROOT, "%n    %-34s %s", hop,
                    samples.summary("%.0f"))));
            return summary.toString();
        }
    }

    private final Host sourceHost;
    private final Host destinationHost;
    private final Client client;
    private final FrameSender sender;
    private final int frames;
    private final int frameSize;
    private final boolean floodBack;
    private int switchovers;

    private ReleaseLatencyBenchmark(NamespaceLab lab, int frames, int frameSize, boolean floodBack) {
        this.floodBack = floodBack;
        this.frames = frames;
        this.frameSize = frameSize;
        this.sourceHost = lab.host("src");
        this.destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        this.client = lab.client("cl", sourceHost);
        this.sender = client.sender();
    }

    public static void main(String[] args) throws Exception {
        BenchArguments arguments = new BenchArguments(args);
        int frames = arguments.integer("frames", 2_000);
        int size = arguments.integer("size", SequencedTraffic.DEFAULT_FRAME_SIZE);
        int cold = arguments.integer("cold", 5);
        int warmup = arguments.integer("warmup", 5);
        int warm = arguments.integer("warm", 10);
        List<String> jvm = new ArrayList<>(arguments.integer("testJvm", 0) == 1 ? AgentProcess.TEST_JVM_OPTIONS
                : BENCH_AGENT_JVM);
        String extra = arguments.string("agentJvm", "");
        if (!extra.isEmpty()) {
            jvm.addAll(List.of(extra.split(";")));
        }
        System.out.println("# Release latency, " + frames + " kept frames of " + size + " B"
                + (arguments.integer("floodBack", 1) == 1 ? "" : ", no flood-back to the old tap") + ", agents " + jvm + " ("
                + Machine.describe() + ")");
        Figures coldFigures = new Figures();
        Figures warmFigures = new Figures();
        try (NamespaceLab lab = new NamespaceLab()) {
            ReleaseLatencyBenchmark benchmark = new ReleaseLatencyBenchmark(lab, frames, size,
                    arguments.integer("floodBack", 1) == 1);
            try {
                for (int pair = 1; pair <= cold; pair++) {
                    try (Agents agents = Agents.start(jvm)) {
                        Switchover first = benchmark.switchover(agents);
                        System.out.println("cold    " + first);
                        coldFigures.add(first);
                        if (pair == cold) {
                            for (int i = 0; i < warmup; i++) {
                                System.out.println("warm-up " + benchmark.switchover(agents));
                            }
                            for (int i = 0; i < warm; i++) {
                                Switchover next = benchmark.switchover(agents);
                                System.out.println("warm    " + next);
                                warmFigures.add(next);
                            }
                        }
                    }
                }
            } finally {
                benchmark.sender.close();
            }
        }
        System.out.println();
        System.out.println("# Summary; load now " + Machine.load());
        System.out.println(coldFigures.summary("cold (first switchover of fresh agents)"));
        System.out.println(warmFigures.summary("warm (after " + warmup + " switchovers)"));
    }

    /** A source and a destination agent. */
    record Agents(AgentProcess source, AgentProcess destination) implements AutoCloseable {

        static Agents start(List<String> jvm) {
            CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", WORK, jvm,
                    FAKE_VM_READS, AGENT_LOGS));
            CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> AgentProcess.start("b", WORK, jvm,
                    FAKE_VM_READS, AGENT_LOGS));
            return new Agents(a.join(), b.join());
        }

        @Override
        public void close() {
            source.close();
            destination.close();
        }
    }

    private Switchover switchover(Agents agents) throws Exception {
        int index = ++switchovers;
        String migrationId = "m-release-" + index;
        String sourceTap = "tapra" + index;
        String destinationTap = "taprb" + index;
        EthernetAddress mac = new EthernetAddress(MAC_BASE + index);
        FakeVm sourceVm = sourceHost.startVm(sourceTap, mac);
        FakeVm destinationVm = destinationHost.startVm(destinationTap, mac);
        try {
            // The whole burst queues in the paused source VM's tap (kept frames the tap dropped travel as well, but
            // this keeps the source's counters simple).
            sourceHost.ip("link", "set", sourceTap, "txqueuelen", Integer.toString(frames + TAP_QUEUE));
            destinationHost.ip("link", "set", destinationTap, "txqueuelen", Integer.toString(TAP_QUEUE));
            sourceVm.announce();
            if (destinationVm.awaitFrames(1, Duration.ofSeconds(5)).isEmpty()) {
                throw new IllegalStateException("the source VM's announcement did not reach the destination tap");
            }
            destinationVm.pause();
            AgentApi source = agents.source().api();
            AgentApi destination = agents.destination().api();
            List<String> vmMacs = List.of(mac.toString());
            require(source.armSource(migrationId, sourceTap, sourceHost.namespace().path().toString(), vmMacs));
            require(destination.armDestination(migrationId, destinationTap,
                    destinationHost.namespace().path().toString(), vmMacs, agents.source().baseUri()));

            if (!floodBack) {
                sourceHost.stopFloodingBroadcastsTo(sourceTap);
            }
            sourceVm.pause();
            SequencedTraffic traffic = new SequencedTraffic(client.mac(), mac, frameSize);
            long interval = TimeUnit.SECONDS.toNanos(1) / SEND_RATE;
            long start = System.nanoTime();
            for (int i = 0; i < frames; i++) {
                long due = start + i * interval;
                for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                    LockSupport.parkNanos(wait);
                }
                sender.send(traffic.frame(i));
            }
            await(Duration.ofSeconds(10), () -> source.session(migrationId, "source").path("counters")
                    .path("keptFrames").asLong() >= frames, () -> "source keeps " + frames + " frames");
            // Both agents idle again (capture reconciled, the destination's connection to the source open).
            Thread.sleep(200);

            int readBeforeResume = destinationVm.readFrames().size();
            double load = Machine.load1();
            destinationVm.resume();
            Instant announcedAt = Instant.now();
            long announcedNanos = System.nanoTime();
            destinationVm.announce();

            // No polling of the agents while they forward: the figures would pay for it.
            destinationVm.awaitFrames(readBeforeResume + frames, Duration.ofSeconds(3));
            Thread.sleep(100);
            boolean stalled = false;
            try {
                await(SETTLE, () -> destination.session(migrationId, "destination").path("state").asString()
                        .equals("completed"), () -> "");
            } catch (IllegalStateException e) {
                // Seen on reused h2c connections: the pull stops mid-stream until disarmed (see docs/performance.md).
                stalled = true;
                System.out.println("STALLED " + destination.session(migrationId, "destination") + " / "
                        + source.session(migrationId, "source").path("counters") + "; threads: "
                        + agents.destination().dumpThreads());
            }
            JsonNode session = destination.session(migrationId, "destination");
            List<FakeVm.ReadFrame> read = destinationVm.readFrames();
            read = read.subList(readBeforeResume, read.size());
            long firstRead = -1;
            long lastRead = -1;
            long sequenced = 0;
            for (FakeVm.ReadFrame frame : read) {
                if (frame.sequence() >= 0) {
                    sequenced++;
                    if (firstRead < 0) {
                        firstRead = frame.readNanos();
                    }
                    if (frame.sequence() == frames - 1) {
                        lastRead = frame.readNanos();
                    }
                }
            }
            Instant seenAt = Instant.parse(session.path("releasedAt").asString());
            JsonNode timings = session.path("timings");
            JsonNode sourceSession = source.session(migrationId, "source");
            Map<String, Long> hops = hops(seenAt, timings, sourceSession);
            Switchover result = new Switchover(
                    source.session(migrationId, "source").path("counters").path("keptFrames").asLong(),
                    session.path("counters").path("injectedFrames").asLong(), sequenced,
                    timings.path("releaseToFirstInjectionMicros").asLong(),
                    timings.path("releaseToBurstInjectedMicros").asLong(),
                    Duration.between(announcedAt, seenAt).toNanos() / 1_000,
                    micros(firstRead, announcedNanos), micros(lastRead, announcedNanos), hops,
                    sourceSession.path("releaseTrigger").asString(), load, stalled);
            source.disarm(migrationId, "source");
            destination.disarm(migrationId, "destination");
            return result;
        } finally {
            sourceVm.close();
            destinationVm.close();
        }
    }

    /**
     * The release's steps in order, each in µs from the destination seeing its VM run: the destination injecting the
     * frames it held (its own timings), and the source told, placed by the wall-clock gap between the two sessions'
     * {@code releasedAt} (the same host's clock, µs resolution). The source's part no longer delays the frames: they
     * travelled before the VM ran.
     */
    private static Map<String, Long> hops(Instant seenAt, JsonNode destination, JsonNode source) {
        Map<String, Long> hops = new LinkedHashMap<>();
        hops.put("dst final read count", destination.path("releaseToFinalCountMicros").asLong());
        hops.put("dst first injected", destination.path("releaseToFirstInjectionMicros").asLong());
        hops.put("dst last injected", destination.path("releaseToBurstInjectedMicros").asLong());
        long requested = Duration.between(seenAt, Instant.parse(source.path("releasedAt").asString())).toNanos() / 1_000;
        hops.put("src release requested", requested);
        JsonNode sourceTimings = source.path("timings");
        hops.put("src reads accounted", requested + sourceTimings.path("requestToReadsAccountedMicros").asLong());
        hops.put("src final count datagram", requested + sourceTimings.path("requestToFinalCountDatagramMicros").asLong());
        hops.put("src final count streamed", requested + sourceTimings.path("requestToFinalCountStreamedMicros").asLong());
        return hops;
    }

    private static long micros(long readNanos, long fromNanos) {
        return readNanos < 0 ? -1 : (readNanos - fromNanos) / 1_000;
    }

    private static void require(AgentApi.Response armed) {
        if (armed.status() != 200) {
            throw new IllegalStateException("arming failed: " + armed);
        }
    }

    private static void await(Duration timeout, BooleanSupplier condition, Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("not within " + timeout + ": " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }
}
