package io.netpass.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.springframework.util.unit.DataSize;

import io.netpass.agent.capture.ArmedTaps;
import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.capture.CaptureSession;
import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.DropReason;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;

/**
 * The highest rate at which a {@link CaptureSession} on the tap of a paused VM captures every frame: no
 * CAPTURE_RING_FULL drop and {@code capturedFrames} equal to the frames sent. A {@link TapTrafficGenerator} in the
 * same process hands frames to the tap at increasing rates, then as fast as it can; every step arms a new session
 * whose buffer holds the whole step, so every frame takes the storing path.
 *
 * <p>The session's CPU time (ThreadMXBean, its capture and counter threads together) is its user-space work and
 * system calls: draining the TPACKET_V3 ring, copying into the kept-frame buffer, sampling the tap's counters. The
 * kernel's copy of each frame into the ring happens in the sender's context, so it shows in the generator's CPU
 * time; a run without a session measures that share.
 *
 * <p>Arguments: {@code sizes=64,1500 repetitions=5 seconds=0.5 senders=1 churn=0 ringBlocks=8 ringBlockKiB=1024 rates64=... rates1500=...}
 * (rates
 * in frames/s; {@code senders} generator threads, each with its own socket, share the rate; {@code churn=1} runs a
 * {@link NamespaceChurn} throughout, as on a busy host).
 */
public final class CaptureRateBenchmark {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:70:b1");
    private static final EthernetAddress CLIENT_MAC = EthernetAddress.of("02:6e:70:00:00:b1");
    private static final String TAP = "tapbench0";
    private static final int ENTRY_HEADER = 24;
    private static final long UNPACED_FRAMES_SMALL = 1_000_000;
    private static final long UNPACED_FRAMES_LARGE = 300_000;
    private static final long QUIET_MILLIS = 300;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    record Step(int frameSize, int repetition, long targetRate, TapTrafficGenerator.Run generator, long captured,
            long ringDrops, long bufferFull, long captureCpuNanos, double load) {

        boolean lossless() {
            return ringDrops == 0 && captured == generator.sentFrames() && generator.refusedFrames() == 0;
        }

        double captureNanosPerFrame() {
            return captured == 0 ? Double.NaN : (double) captureCpuNanos / captured;
        }

        double captureCpuShare() {
            return (double) captureCpuNanos / generator.elapsedNanos();
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT,
                    "size %4d rep %d target %9s sent %8d at %9.0f/s gen-cpu %3.0f%% captured %8d ring-drops %7d "
                            + "buffer-full %d capture-cpu %3.0f%% %6.1f ns/frame %s load %.2f",
                    frameSize, repetition, targetRate == 0 ? "max" : Long.toString(targetRate),
                    generator.sentFrames(), generator.framesPerSecond(), 100 * generator.cpuShare(), captured,
                    ringDrops, bufferFull, 100 * captureCpuShare(), captureNanosPerFrame(),
                    lossless() ? "LOSSLESS" : "LOSSY", load);
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArguments arguments = new BenchArguments(args);
        int[] sizes = arguments.integers("sizes", 64, 1500);
        int repetitions = arguments.integer("repetitions", 5);
        double seconds = arguments.decimal("seconds", 0.5);
        int senders = arguments.integer("senders", 1);
        boolean churn = arguments.integer("churn", 0) != 0;
        CaptureProperties defaults = CaptureProperties.defaults();
        CaptureProperties properties = new CaptureProperties(defaults.bufferCapacity(),
                arguments.integer("ringBlockKiB", 0) > 0
                        ? DataSize.ofKilobytes(arguments.integer("ringBlockKiB", 0)) : defaults.ringBlockSize(),
                arguments.integer("ringBlocks", defaults.ringBlocks()), defaults.ringBlockTimeout(),
                defaults.counterInterval(), defaults.armSettleWindow(), defaults.armSettleTimeout());
        System.out.println("# Capture rate, zero kernel drops, " + senders + " sender thread(s)"
                + (churn ? ", namespaces churning (RTNL contention)" : "") + " (" + Machine.describe() + ")");
        try (NamespaceLab lab = new NamespaceLab();
                NamespaceChurn churning = new NamespaceChurn()) {
            if (churn) {
                churning.start();
            }
            Host host = lab.host("bench");
            FakeVm vm = host.startVm(TAP, VM_MAC);
            vm.pause();
            TapLocation location = new TapLocation(host.namespace().path(), TAP);
            Link link;
            try (NetworkLinks links = NetworkLinks.open(host.network())) {
                link = links.byName(TAP);
            }
            System.out.println("# tap " + TAP + " txqueuelen " + link.txQueueLength() + ", VM paused; ring "
                    + properties.ringBlocks() + " x " + properties.ringBlockSize()
                    + ", block timeout " + properties.ringBlockTimeout());
            List<String> summaries = new ArrayList<>();
            for (int size : sizes) {
                long[] rates = arguments.longs("rates" + size, defaultRates(size));
                SequencedTraffic traffic = new SequencedTraffic(CLIENT_MAC, VM_MAC, size);
                List<TapTrafficGenerator> generators = new ArrayList<>();
                for (int i = 0; i < senders; i++) {
                    generators.add(new TapTrafficGenerator(host.network(), link, traffic));
                }
                try {
                    // Warm-up: the JIT compiles the capture and send paths before anything is recorded.
                    step(location, properties, generators, size, -1, 200_000, 200_000);
                    Samples maxLossless = new Samples();
                    Samples nanosPerFrame = new Samples();
                    Samples cpuShareAtMax = new Samples();
                    Samples unpacedRate = new Samples();
                    Samples unpacedCaptureNanos = new Samples();
                    Samples generatorAlone = new Samples();
                    Samples generatorNanosArmed = new Samples();
                    Samples generatorNanosAlone = new Samples();
                    int unpacedLossless = 0;
                    for (int repetition = 1; repetition <= repetitions; repetition++) {
                        Step best = null;
                        int lossyInARow = 0;
                        for (long rate : rates) {
                            long frames = Math.max(20L * TapTrafficGenerator.BATCH_FRAMES, (long) (rate * seconds));
                            Step step = step(location, properties, generators, size, repetition, rate, frames);
                            System.out.println(step);
                            if (step.lossless()) {
                                lossyInARow = 0;
                                if (best == null || step.generator().framesPerSecond() > best.generator().framesPerSecond()) {
                                    best = step;
                                }
                            } else if (++lossyInARow == 2) {
                                break;
                            }
                            if (step.generator().framesPerSecond() < 0.9 * rate) {
                                // The generator has reached its own limit; the unpaced step covers the rest.
                                break;
                            }
                        }
                        Step unpaced = step(location, properties, generators, size, repetition, 0,
                                size <= 256 ? UNPACED_FRAMES_SMALL : UNPACED_FRAMES_LARGE);
                        System.out.println(unpaced);
                        unpacedRate.add(unpaced.generator().framesPerSecond());
                        unpacedCaptureNanos.add(unpaced.captureNanosPerFrame());
                        generatorNanosArmed.add((double) unpaced.generator().cpuNanos() / unpaced.generator().sentFrames());
                        if (unpaced.lossless()) {
                            unpacedLossless++;
                            if (best == null || unpaced.generator().framesPerSecond() > best.generator().framesPerSecond()) {
                                best = unpaced;
                            }
                        }
                        TapTrafficGenerator.Run alone = TapTrafficGenerator.runTogether(generators,
                                size <= 256 ? UNPACED_FRAMES_SMALL : UNPACED_FRAMES_LARGE, 0);
                        System.out.printf(Locale.ROOT, "size %4d rep %d generator alone (no capture armed): %.0f/s, "
                                        + "%.1f ns CPU/frame, load %.2f%n", size, repetition, alone.framesPerSecond(),
                                (double) alone.cpuNanos() / alone.sentFrames(), Machine.load1());
                        generatorAlone.add(alone.framesPerSecond());
                        generatorNanosAlone.add((double) alone.cpuNanos() / alone.sentFrames());
                        if (best != null) {
                            maxLossless.add(best.generator().framesPerSecond());
                            nanosPerFrame.add(best.captureNanosPerFrame());
                            cpuShareAtMax.add(100 * best.captureCpuShare());
                        }
                    }
                    summaries.add(String.format(Locale.ROOT, """
                            %d B frames:
                              highest lossless rate          %s frames/s
                              session threads at that rate  %s ns CPU/frame, %s %% of a core
                              generator unpaced, armed       %s frames/s (%d of %d runs lossless), capture %s ns/frame
                              generator unpaced, no capture  %s frames/s
                              generator CPU/frame            %s ns armed, %s ns without capture""",
                            size, maxLossless.summary("%.0f"), nanosPerFrame.summary("%.1f"),
                            cpuShareAtMax.summary("%.0f"), unpacedRate.summary("%.0f"), unpacedLossless, repetitions,
                            unpacedCaptureNanos.summary("%.1f"), generatorAlone.summary("%.0f"),
                            generatorNanosArmed.summary("%.0f"), generatorNanosAlone.summary("%.0f")));
                } finally {
                    generators.forEach(TapTrafficGenerator::close);
                }
            }
            System.out.println();
            System.out.println("# Summary (median (min–max, n)); load now " + Machine.load()
                    + (churn ? "; namespaces churned: " + churning.cycles() : ""));
            summaries.forEach(System.out::println);
            vm.close();
        }
    }

    private static long[] defaultRates(int size) {
        return size <= 256
                ? new long[] {50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000,
                        1_200_000, 1_500_000}
                : new long[] {25_000, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000,
                        700_000};
    }

    private static Step step(TapLocation location, CaptureProperties properties,
            List<TapTrafficGenerator> generators, int size, int repetition,
            long rate, long frames) throws InterruptedException {
        long entry = (ENTRY_HEADER + size + 7) & ~7L;
        long capacity = Math.max(64L << 20, frames * entry + (1L << 20));
        ArmedTaps taps = new ArmedTaps(properties.withBufferCapacity(DataSize.ofBytes(capacity)));
        try (CaptureSession session = taps.arm(location)) {
            long[] sessionThreads = sessionThreadIds(location.tap());
            long cpuBefore = cpuTime(sessionThreads);
            TapTrafficGenerator.Run run = TapTrafficGenerator.runTogether(generators, frames, rate);
            CaptureStatus status = awaitCaptured(session, run.sentFrames());
            long cpu = cpuTime(sessionThreads) - cpuBefore;
            return new Step(size, repetition, rate, run, status.capturedFrames(),
                    status.drops(DropReason.CAPTURE_RING_FULL), status.drops(DropReason.BUFFER_FULL), cpu,
                    Machine.load1());
        }
    }

    /** Waits until every sent frame is captured, or until nothing more arrives (the rest was dropped). */
    private static CaptureStatus awaitCaptured(CaptureSession session, long sent) throws InterruptedException {
        CaptureStatus status = session.status();
        long lastProgress = System.nanoTime();
        long lastCount = status.capturedFrames();
        while (status.capturedFrames() < sent) {
            Thread.sleep(1);
            status = session.status();
            if (status.capturedFrames() != lastCount) {
                lastCount = status.capturedFrames();
                lastProgress = System.nanoTime();
            } else if (System.nanoTime() - lastProgress > QUIET_MILLIS * 1_000_000) {
                break;
            }
        }
        return status;
    }

    /** The session's threads: {@code capture-TAP} and, where the session has one, {@code counters-TAP}. */
    private static long[] sessionThreadIds(String tap) throws InterruptedException {
        long[] ids = {};
        // The counter thread starts just after arming returns.
        for (int attempt = 0; attempt < 100 && ids.length < 2; attempt++) {
            if (attempt > 0) {
                Thread.sleep(1);
            }
            ids = Thread.getAllStackTraces().keySet().stream()
                    .filter(thread -> thread.getName().equals("capture-" + tap)
                            || thread.getName().equals("counters-" + tap))
                    .mapToLong(Thread::threadId).toArray();
        }
        if (ids.length == 0) {
            throw new IllegalStateException("no capture thread for " + tap);
        }
        return ids;
    }

    private static long cpuTime(long[] threads) {
        long total = 0;
        for (long thread : threads) {
            total += Math.max(0, THREADS.getThreadCpuTime(thread));
        }
        return total;
    }
}
