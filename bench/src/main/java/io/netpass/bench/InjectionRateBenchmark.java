package io.netpass.bench;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.inject.InjectionReport;
import io.netpass.agent.inject.TapInjector;
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
 * <p>Arguments: {@code sizes=64,1500 repetitions=5 frames64=200000 frames1500=100000}.
 */
public final class InjectionRateBenchmark {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:70:b2");
    private static final EthernetAddress CLIENT_MAC = EthernetAddress.of("02:6e:70:00:00:b2");
    private static final int DISTINCT_FRAMES = 256;
    private static final long DRAIN_QUIET_MILLIS = 200;
    private static final MemorySegment ZERO_VNET_HEADER = MemorySegment.ofArray(new byte[10]);
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    enum Reader { PAUSED, READING }

    record Burst(int frameSize, Reader reader, long injected, long failed, long openNanos, long injectNanos,
            long cpuNanos, long tapDrops, long read, long readNanos, double load) {

        double framesPerSecond() {
            return injected * 1e9 / injectNanos;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT,
                    "size %4d %-7s injected %7d (failed %d) in %6.1f ms = %9.0f/s, %5.0f ns CPU/frame, open %5.1f ms,"
                            + " tap drops %d, VM read %d%s, load %.2f",
                    frameSize, reader.name().toLowerCase(Locale.ROOT), injected, failed, injectNanos / 1e6,
                    framesPerSecond(), (double) cpuNanos / injected, openNanos / 1e6, tapDrops, read,
                    reader == Reader.READING ? String.format(Locale.ROOT, " at %.0f/s", read * 1e9 / readNanos) : "",
                    load);
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArguments arguments = new BenchArguments(args);
        int[] sizes = arguments.integers("sizes", 64, 1500);
        int repetitions = arguments.integer("repetitions", 5);
        System.out.println("# Injection rate, TapInjector into a tap grown by the burst (" + Machine.describe() + ")");
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
                burst(host, "tapw" + taps++, size, Reader.PAUSED, distinct, frames);
                for (Reader reader : Reader.values()) {
                    Samples rate = new Samples();
                    Samples cpu = new Samples();
                    Samples readRate = new Samples();
                    long drops = 0;
                    for (int repetition = 1; repetition <= repetitions; repetition++) {
                        Burst burst = burst(host, "tapi" + taps++, size, reader, distinct, frames);
                        System.out.println(burst);
                        rate.add(burst.framesPerSecond());
                        cpu.add((double) burst.cpuNanos() / burst.injected());
                        drops += burst.tapDrops();
                        if (reader == Reader.READING) {
                            readRate.add(burst.read() * 1e9 / burst.readNanos());
                        }
                    }
                    summaries.add(String.format(Locale.ROOT,
                            "%4d B, VM %-7s: %s frames/s injected, %s ns CPU/frame, tap drops %d%s", size,
                            reader.name().toLowerCase(Locale.ROOT), rate.summary("%.0f"), cpu.summary("%.0f"), drops,
                            reader == Reader.READING ? "; VM read at " + readRate.summary("%.0f") + " frames/s" : ""));
                }
            }
        }
        System.out.println();
        System.out.println("# Summary (median (min–max, n)); load now " + Machine.load());
        summaries.forEach(System.out::println);
    }

    private static Burst burst(Host host, String tap, int size, Reader reader, List<MemorySegment> distinct,
            int frames) throws Exception {
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
            try (TapInjector injector = TapInjector.open(new TapLocation(host.namespace().path(), tap), Duration.ofSeconds(10))) {
                injector.growRingBeforeTheVmRuns(frames);
                long openNanos = System.nanoTime() - openStart;
                long cpuBefore = THREADS.getCurrentThreadCpuTime();
                long start = System.nanoTime();
                for (int i = 0; i < frames; i++) {
                    injector.inject(i, ZERO_VNET_HEADER, distinct.get(i % DISTINCT_FRAMES));
                }
                InjectionReport report = injector.report();
                long injectNanos = System.nanoTime() - start;
                long cpu = THREADS.getCurrentThreadCpuTime() - cpuBefore;
                long read = 0;
                long readNanos = 0;
                if (counting != null) {
                    read = awaitReads(counting, frames);
                    readNanos = System.nanoTime() - start;
                }
                TapCounters after = links.byName(tap).counters();
                return new Burst(size, reader, report.injectedFrames(), report.failedFrames(), openNanos,
                        injectNanos, cpu, after.droppedFrames() - before.droppedFrames(), read, readNanos,
                        Machine.load1());
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
