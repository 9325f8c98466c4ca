package io.netpass.bench;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.netpass.agent.linux.FrameBatch;
import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.testing.SequencedTraffic;

/**
 * Hands frames to a tap the way the host's bridge does, through the tap's normal transmit path (qdisc included), so
 * that a packet socket on the tap captures them as frames for the VM. Frames leave in {@code sendmmsg} batches of
 * {@value #BATCH_FRAMES} built once and sent again and again, so the generator costs as little as the kernel allows.
 *
 * <p>Frames sent with PACKET_QDISC_BYPASS would never reach a capture on the tap; this sender does not bypass.
 */
final class TapTrafficGenerator implements AutoCloseable {

    static final int BATCH_FRAMES = 64;

    private static final MemorySegment ZERO_VNET_HEADER = MemorySegment.ofArray(new byte[InjectionSocket.VNET_HEADER_SIZE]);
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /**
     * One run of the generator.
     *
     * @param sentFrames frames the kernel accepted
     * @param refusedFrames frames the kernel refused (a full qdisc: never handed to the tap)
     * @param elapsedNanos wall time from first to last send
     * @param cpuNanos the sending thread's CPU time, kernel time of the sends included
     */
    record Run(long sentFrames, long refusedFrames, long elapsedNanos, long cpuNanos) {

        double framesPerSecond() {
            return sentFrames * 1e9 / elapsedNanos;
        }

        /** The sending threads' share of one CPU over the run (above 1 with several senders). */
        double cpuShare() {
            return (double) cpuNanos / elapsedNanos;
        }

        /** Runs of senders that ran side by side, as one. */
        static Run together(List<Run> runs) {
            return new Run(runs.stream().mapToLong(Run::sentFrames).sum(),
                    runs.stream().mapToLong(Run::refusedFrames).sum(),
                    runs.stream().mapToLong(Run::elapsedNanos).max().orElse(1),
                    runs.stream().mapToLong(Run::cpuNanos).sum());
        }
    }

    /**
     * Runs {@code generators} side by side, one platform thread each, splitting {@code frames} and
     * {@code framesPerSecond} evenly among them.
     */
    static Run runTogether(List<TapTrafficGenerator> generators, long frames, long framesPerSecond) {
        if (generators.size() == 1) {
            return generators.getFirst().run(frames, framesPerSecond);
        }
        int n = generators.size();
        List<CompletableFuture<Run>> runs = new ArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        for (TapTrafficGenerator generator : generators) {
            CompletableFuture<Run> run = new CompletableFuture<>();
            Thread.ofPlatform().name("generator").start(() -> {
                try {
                    start.await();
                    run.complete(generator.run(frames / n, framesPerSecond / n));
                } catch (Throwable t) {
                    run.completeExceptionally(t);
                }
            });
            runs.add(run);
        }
        start.countDown();
        return Run.together(runs.stream().map(CompletableFuture::join).toList());
    }

    private final InjectionSocket socket;
    private final FrameBatch batch;
    private final InjectionSocket.BatchFailureHandler countRefusal = (sequence, error) -> this.refused++;
    private long refused;

    /** A generator of {@code traffic}'s frames into {@code link} of {@code namespace}. */
    TapTrafficGenerator(NetworkNamespace namespace, Link link, SequencedTraffic traffic) {
        long slot = (InjectionSocket.VNET_HEADER_SIZE + traffic.frameSize() + 7) & ~7L;
        this.batch = new FrameBatch(BATCH_FRAMES, BATCH_FRAMES * slot);
        for (int i = 0; i < BATCH_FRAMES; i++) {
            batch.add(i, ZERO_VNET_HEADER, MemorySegment.ofArray(traffic.frame(i)));
        }
        this.socket = InjectionSocket.open(namespace, link, false);
    }

    /**
     * Sends {@code frames} frames (rounded up to whole batches) at {@code framesPerSecond}, or as fast as it can if
     * that is 0. The schedule is fixed from the start, so a late batch is made up for by the next ones.
     */
    Run run(long frames, long framesPerSecond) {
        refused = 0;
        long cpuBefore = THREADS.getCurrentThreadCpuTime();
        long start = System.nanoTime();
        long sent = 0;
        while (sent < frames) {
            if (framesPerSecond > 0) {
                long due = (System.nanoTime() - start) * framesPerSecond / TimeUnit.SECONDS.toNanos(1);
                long ahead = sent + BATCH_FRAMES - due;
                if (ahead > 0) {
                    LockSupport.parkNanos(ahead * TimeUnit.SECONDS.toNanos(1) / framesPerSecond);
                    continue;
                }
            }
            socket.send(batch, 0, countRefusal);
            sent += BATCH_FRAMES;
        }
        long elapsed = System.nanoTime() - start;
        return new Run(sent - refused, refused, elapsed, THREADS.getCurrentThreadCpuTime() - cpuBefore);
    }

    @Override
    public void close() {
        socket.close();
        batch.close();
    }
}
