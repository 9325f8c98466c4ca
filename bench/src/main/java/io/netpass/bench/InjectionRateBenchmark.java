package io.netpass.bench;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.inject.TapInjector;
import io.netpass.agent.linux.FrameBatch;
import io.netpass.agent.linux.InjectionRing;
import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.TapCounters;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;

/**
 * How fast a {@link TapInjector} writes a burst of kept frames into a destination tap: frames accepted by the kernel
 * per second, from the first {@code inject} to the end of the last {@code sendmmsg}.
 *
 * <p>Two cases, each with the tap's ring grown by the burst as the injector does, so that every injected frame is
 * queued, not dropped (checked on the tap's {@code tx_dropped}): a paused VM that reads nothing (the injector alone,
 * the frames stay queued) and a VM reading as fast as one thread can (the injector and the reader share the two
 * CPUs, as on the destination once the VM runs). The kernel counts a frame as injected when it accepts it; had the
 * ring not been grown, frames beyond it would have been dropped by the tap and still counted as injected.
 *
 * <p>With {@code paths=sendmmsg,ring} the kernel paths are compared instead, on the same taps and with the same
 * batches of 256 frames a {@link TapInjector} makes: {@link InjectionSocket} ({@code sendmmsg}) against
 * {@link InjectionRing} (a PACKET_TX_RING), the two alternating repetition by repetition so that the neighbours'
 * load falls on both alike; {@code sendmmsg_linear} is {@code sendmmsg} with the vnet header's {@code hdr_len} set to
 * the frame's length, as the ring sets it, to tell the saved syscall work from the linear skb.
 *
 * <p>Arguments: {@code sizes=64,1500 repetitions=5 frames64=200000 frames1500=100000 paths=injector}.
 */
public final class InjectionRateBenchmark {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:70:b2");
    private static final EthernetAddress CLIENT_MAC = EthernetAddress.of("02:6e:70:00:00:b2");
    private static final int DISTINCT_FRAMES = 256;
    private static final long DRAIN_QUIET_MILLIS = 200;
    private static final MemorySegment ZERO_VNET_HEADER = MemorySegment.ofArray(new byte[10]);
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    enum Reader { PAUSED, READING }

    /** What writes the frames: a whole {@link TapInjector}, or one of the kernel paths with its batches. */
    enum Path { INJECTOR, SENDMMSG, SENDMMSG_LINEAR, RING }

    private static final int BATCH_FRAMES = 256;
    private static final long BATCH_BYTES = 4L * (65_536 + 64);

    record Burst(Path path, int frameSize, Reader reader, long injected, long failed, long openNanos, long injectNanos,
            long cpuNanos, long tapDrops, long read, long readNanos, double load) {

        double framesPerSecond() {
            return injected * 1e9 / injectNanos;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT,
                    "%-8s size %4d %-7s injected %7d (failed %d) in %6.1f ms = %9.0f/s, %5.0f ns CPU/frame, open %5.1f ms,"
                            + " tap drops %d, VM read %d%s, load %.2f",
                    path.name().toLowerCase(Locale.ROOT), frameSize, reader.name().toLowerCase(Locale.ROOT), injected,
                    failed, injectNanos / 1e6,
                    framesPerSecond(), (double) cpuNanos / injected, openNanos / 1e6, tapDrops, read,
                    reader == Reader.READING ? String.format(Locale.ROOT, " at %.0f/s", read * 1e9 / readNanos) : "",
                    load);
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArguments arguments = new BenchArguments(args);
        int[] sizes = arguments.integers("sizes", 64, 1500);
        int repetitions = arguments.integer("repetitions", 5);
        List<Path> paths = Arrays.stream(arguments.string("paths", "injector").split(","))
                .map(name -> Path.valueOf(name.trim().toUpperCase(Locale.ROOT))).toList();
        System.out.println("# Injection rate, " + paths + " into a tap grown by the burst (" + Machine.describe()
                + ")");
        List<String> summaries = new ArrayList<>();
        try (NamespaceLab lab = new NamespaceLab()) {
            Host host = lab.host("inject");
            int taps = 0;
            for (int size : sizes) {
                int frames = arguments.integer("frames" + size, size <= 256 ? 200_000 : 100_000);
                List<MemorySegment> distinct = new ArrayList<>();
                SequencedTraffic traffic = new SequencedTraffic(CLIENT_MAC, VM_MAC, size);
                for (int i = 0; i < DISTINCT_FRAMES; i++) {
                    distinct.add(MemorySegment.ofArray(traffic.frame(i)));
                }
                burst(host, "tapw" + taps++, size, Reader.PAUSED, paths.getFirst(), distinct, frames);
                for (Reader reader : Reader.values()) {
                    Map<Path, Samples> rate = new EnumMap<>(Path.class);
                    Map<Path, Samples> cpu = new EnumMap<>(Path.class);
                    Map<Path, Samples> readRate = new EnumMap<>(Path.class);
                    Map<Path, Long> drops = new EnumMap<>(Path.class);
                    for (int repetition = 1; repetition <= repetitions; repetition++) {
                        for (Path path : paths) {
                            Burst burst = burst(host, "tapi" + taps++, size, reader, path, distinct, frames);
                            System.out.println(burst);
                            rate.computeIfAbsent(path, p -> new Samples()).add(burst.framesPerSecond());
                            cpu.computeIfAbsent(path, p -> new Samples())
                                    .add((double) burst.cpuNanos() / burst.injected());
                            drops.merge(path, burst.tapDrops(), Long::sum);
                            if (reader == Reader.READING) {
                                readRate.computeIfAbsent(path, p -> new Samples())
                                        .add(burst.read() * 1e9 / burst.readNanos());
                            }
                        }
                    }
                    for (Path path : paths) {
                        summaries.add(String.format(Locale.ROOT,
                                "%-8s %4d B, VM %-7s: %s frames/s injected, %s ns CPU/frame, tap drops %d%s",
                                path.name().toLowerCase(Locale.ROOT), size, reader.name().toLowerCase(Locale.ROOT),
                                rate.get(path).summary("%.0f"), cpu.get(path).summary("%.0f"), drops.get(path),
                                reader == Reader.READING
                                        ? "; VM read at " + readRate.get(path).summary("%.0f") + " frames/s" : ""));
                    }
                }
            }
        }
        System.out.println();
        System.out.println("# Summary (median (min–max, n)); load now " + Machine.load());
        summaries.forEach(System.out::println);
    }

    private static Burst burst(Host host, String tap, int size, Reader reader, Path path,
            List<MemorySegment> distinct, int frames) throws Exception {
        AutoCloseable vm;
        CountingVm counting = null;
        if (reader == Reader.PAUSED) {
            FakeVm fake = host.startVm(tap, VM_MAC);
            fake.pause();
            vm = fake;
        } else {
            counting = CountingVm.start(host.network(), tap);
            host.attach(tap);
            vm = counting;
        }
        try (vm; NetworkLinks links = NetworkLinks.open(host.network())) {
            TapCounters before = links.byName(tap).counters();
            long openStart = System.nanoTime();
            try (Injection injection = Injection.open(path, host, links, tap, frames, size)) {
                long openNanos = System.nanoTime() - openStart;
                long cpuBefore = THREADS.getCurrentThreadCpuTime();
                long start = System.nanoTime();
                for (int i = 0; i < frames; i++) {
                    injection.inject(i, distinct.get(i % DISTINCT_FRAMES));
                }
                long failed = injection.finish();
                long injectNanos = System.nanoTime() - start;
                long cpu = THREADS.getCurrentThreadCpuTime() - cpuBefore;
                long read = 0;
                long readNanos = 0;
                if (counting != null) {
                    read = awaitReads(counting, frames);
                    readNanos = System.nanoTime() - start;
                }
                TapCounters after = links.byName(tap).counters();
                return new Burst(path, size, reader, frames - failed, failed, openNanos, injectNanos, cpu,
                        after.droppedFrames() - before.droppedFrames(), read, readNanos, Machine.load1());
            }
        }
    }

    /** One burst's writer, opened on a tap whose ring it grows by the burst. */
    private abstract static class Injection implements AutoCloseable {

        static Injection open(Path path, Host host, NetworkLinks links, String tap, int frames, int size) {
            if (path == Path.INJECTOR) {
                TapInjector injector = TapInjector.open(new TapLocation(host.namespace().path(), tap),
                        Duration.ofSeconds(10));
                // The injector fills the ring to three quarters only (the rest is for the host's own frames).
                injector.growRingBeforeTheVmRuns(frames + frames / 3 + 1);
                return new Injection() {
                    @Override
                    void inject(long sequence, MemorySegment frame) {
                        injector.inject(sequence, ZERO_VNET_HEADER, frame);
                    }

                    @Override
                    long finish() {
                        return injector.report().failedFrames();
                    }

                    @Override
                    public void close() {
                        injector.close();
                    }
                };
            }
            Link link = links.byName(tap);
            links.setTxQueueLength(tap, link.txQueueLength() + frames);
            if (path == Path.RING) {
                InjectionRing ring = InjectionRing.open(host.network(), link);
                return new Batched(ring, ring::send);
            }
            InjectionSocket socket = InjectionSocket.open(host.network(), link);
            Batched batched = new Batched(socket, socket::send);
            if (path == Path.SENDMMSG_LINEAR) {
                batched.header = MemorySegment.ofArray(new byte[10]);
                batched.header.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2, (short) size);
            }
            return batched;
        }

        abstract void inject(long sequence, MemorySegment frame);

        /** Sends what is queued; returns the frames refused. */
        abstract long finish();

        @Override
        public abstract void close();
    }

    /** Batches of {@value #BATCH_FRAMES} frames handed to one kernel path, as a {@link TapInjector} makes them. */
    private static final class Batched extends Injection {

        @FunctionalInterface
        interface SendCall {
            long send(FrameBatch batch, long fullRingTimeoutNanos, InjectionSocket.BatchFailureHandler failures);
        }

        private static final long FULL_RING_TIMEOUT_NANOS = Duration.ofSeconds(10).toNanos();

        private final FrameBatch batch = new FrameBatch(BATCH_FRAMES, BATCH_BYTES);
        private final AutoCloseable owner;
        private final SendCall sender;
        private long failed;
        private MemorySegment header = ZERO_VNET_HEADER;

        Batched(AutoCloseable owner, SendCall sender) {
            this.owner = owner;
            this.sender = sender;
        }

        @Override
        void inject(long sequence, MemorySegment frame) {
            if (!batch.add(sequence, header, frame)) {
                send();
                batch.add(sequence, header, frame);
            }
        }

        private void send() {
            sender.send(batch, FULL_RING_TIMEOUT_NANOS, (sequence, error) -> failed++);
            batch.clear();
        }

        @Override
        long finish() {
            send();
            return failed;
        }

        @Override
        public void close() {
            try (owner; batch) {
                // both closed
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
    /** Waits until the VM has read {@code frames} or has read nothing more for a while; returns what it read. */
    private static long awaitReads(CountingVm vm, long frames) throws InterruptedException {
        long last = -1;
        long lastChange = System.nanoTime();
        while (vm.frames() < frames) {
            Thread.sleep(1);
            long now = vm.frames();
            if (now != last) {
                last = now;
                lastChange = System.nanoTime();
            } else if (System.nanoTime() - lastChange > DRAIN_QUIET_MILLIS * 1_000_000) {
                break;
            }
        }
        return vm.frames();
    }
}
