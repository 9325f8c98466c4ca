package io.netpass.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.NettyDataBufferFactory;

import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.stream.ForwardedFrame;
import io.netpass.agent.stream.FrameStreamDecoder;
import io.netpass.agent.stream.FrameStreamRecord;
import io.netpass.agent.stream.FrameStreamEncoder;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;
import io.netty.buffer.PooledByteBufAllocator;

/**
 * Frame payload per second through the real agent-to-agent path: a source agent (its own JVM) keeps {@code frames}
 * frames of {@code size} bytes for a paused fake VM, and this JVM pulls them as a destination agent would, with
 * {@link PeerClient} over h2c on loopback ({@code GET /v1/peer/migrations/{id}/frames}, peer token), decoding with
 * {@link FrameStreamDecoder} and only counting. A pull for frames after -1 acknowledges nothing, so every pull
 * streams the whole buffer again. Timed from the request to the last kept frame decoded (the stream's END follows
 * later, when the source has seen no new frame for its quiet period). CPU: the source agent's process and this
 * process over the same span.
 *
 * <p>For reference, the codec alone in one thread: records encoded as the source encodes them (joined per batch of
 * 256), split into 16 KiB pieces as HTTP/2 DATA frames carry them, and decoded.
 *
 * <p>Arguments: {@code frames=150000 size=1500 pulls=7 warmup=2 bufferMiB=512 codecFrames=300000
 * codecRepetitions=7 testJvm=0}.
 */
public final class StreamThroughputBenchmark {

    private static final Path WORK = Path.of("bench", "target", "throughput-agents");
    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:73:01");
    private static final EthernetAddress CLIENT_MAC = EthernetAddress.of("02:6e:70:00:00:c1");
    private static final String MIGRATION = "m-throughput";
    private static final int BATCH_FRAMES = 256;
    private static final int DATA_FRAME = 16 * 1024;
    private static final long SEND_RATE = 200_000;
    private static final double MIB = 1024 * 1024;
    private static final long CLOCK_TICKS = 100;

    record Pull(long frames, long payloadBytes, long nanos, long totalNanos, double sourceCpu, double pullerCpu,
            double load) {

        double mibPerSecond() {
            return payloadBytes / MIB * 1e9 / nanos;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT,
                    "%d frames, %.1f MiB payload in %.1f ms = %.0f MiB/s (%.0f k frames/s); END after %.0f ms;"
                            + " CPU source agent %.0f %%, puller %.0f %% of a core; load %.2f",
                    frames, payloadBytes / MIB, nanos / 1e6, mibPerSecond(), frames / (nanos / 1e9) / 1e3,
                    totalNanos / 1e6, sourceCpu * 100, pullerCpu * 100, load);
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArguments arguments = new BenchArguments(args);
        int frames = arguments.integer("frames", 150_000);
        int size = arguments.integer("size", 1500);
        int pulls = arguments.integer("pulls", 7);
        int warmup = arguments.integer("warmup", 2);
        int bufferMiB = arguments.integer("bufferMiB", 512);
        List<String> jvm = arguments.integer("testJvm", 0) == 1 ? AgentProcess.TEST_JVM_OPTIONS
                : ReleaseLatencyBenchmark.BENCH_AGENT_JVM;
        System.out.println("# Stream throughput, frames of " + size + " B, source agent " + jvm + " ("
                + Machine.describe() + ")");
        List<String> summaries = new ArrayList<>();
        summaries.add(codec(size, arguments.integer("codecFrames", 300_000),
                arguments.integer("codecRepetitions", 7)));

        try (NamespaceLab lab = new NamespaceLab();
                AgentProcess agent = AgentProcess.start("s", WORK, jvm,
                        "--netpass.agent.capture.buffer-capacity=" + bufferMiB + "MB",
                        "--logging.level.io.netpass=INFO")) {
            Host host = lab.host("src");
            String tap = "tapt0";
            FakeVm vm = host.startVm(tap, VM_MAC);
            vm.pause();
            AgentApi api = agent.api();
            AgentApi.Response armed = api.armSource(MIGRATION, tap, host.namespace().path().toString(),
                    List.of(VM_MAC.toString()));
            if (armed.status() != 200) {
                throw new IllegalStateException("arming failed: " + armed);
            }
            try (NetworkLinks links = NetworkLinks.open(host.network());
                    TapTrafficGenerator generator = new TapTrafficGenerator(host.network(), links.byName(tap),
                            new SequencedTraffic(CLIENT_MAC, VM_MAC, size))) {
                generator.run(frames, SEND_RATE);
            }
            long kept = awaitSteadyKept(api);
            System.out.printf(Locale.ROOT, "source keeps %d frames (%.1f MiB)%n", kept, kept * (double) size / MIB);

            PeerClient peers = new PeerClient(agent::peerToken);
            Samples rate = new Samples();
            Samples sourceCpu = new Samples();
            Samples pullerCpu = new Samples();
            Samples load = new Samples();
            for (int i = 1; i <= warmup + pulls; i++) {
                Pull pull = pull(peers, agent, kept);
                System.out.println((i <= warmup ? "warm-up " : "pull    ") + pull);
                if (i > warmup) {
                    rate.add(pull.mibPerSecond());
                    sourceCpu.add(pull.sourceCpu() * 100);
                    pullerCpu.add(pull.pullerCpu() * 100);
                    load.add(pull.load());
                }
            }
            summaries.add(String.format(Locale.ROOT,
                    "h2c stream, %d B frames, %d kept: %s MiB/s payload; CPU source agent %s %%, puller %s %% of a"
                            + " core; load %s", size, kept, rate.summary("%.0f"), sourceCpu.summary("%.0f"),
                    pullerCpu.summary("%.0f"), load.summary("%.2f")));
            api.disarm(MIGRATION, "source");
        }
        System.out.println();
        System.out.println("# Summary (median (min–max, n)); load now " + Machine.load());
        summaries.forEach(System.out::println);
    }

    private static Pull pull(PeerClient peers, AgentProcess agent, long kept) {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        long[] counted = new long[3];
        double load = Machine.load1();
        long sourceCpuBefore = cpuTicks(agent.pid());
        long pullerCpuBefore = cpuTicks(ProcessHandle.current().pid());
        long start = System.nanoTime();
        peers.frames(agent.baseUri(), MIGRATION, FrameStreamDecoder.NO_SEQUENCE)
                .doOnNext(chunk -> decoder.decode(chunk, record -> {
                    if (record instanceof ForwardedFrame frame) {
                        counted[1] += frame.frame().length;
                        if (++counted[0] == kept) {
                            counted[2] = System.nanoTime();
                        }
                    }
                }))
                .blockLast(Duration.ofMinutes(2));
        long end = System.nanoTime();
        long lastFrame = counted[2] == 0 ? end : counted[2];
        double seconds = (lastFrame - start) / 1e9;
        // Ticks are read at the end of the stream: the source idles through its quiet period before END, so this
        // reads low by that idle share; the puller's share includes the same idle time.
        double sourceCpu = (cpuTicks(agent.pid()) - sourceCpuBefore) / (double) CLOCK_TICKS / ((end - start) / 1e9);
        double pullerCpu = (cpuTicks(ProcessHandle.current().pid()) - pullerCpuBefore) / (double) CLOCK_TICKS
                / ((end - start) / 1e9);
        if (counted[0] < kept) {
            throw new IllegalStateException("pulled " + counted[0] + " of " + kept + " kept frames");
        }
        return new Pull(counted[0], counted[1], lastFrame - start, end - start, sourceCpu, pullerCpu, load);
    }

    /** Waits until the source's kept count stops growing (the capture has reconciled what the generator sent). */
    private static long awaitSteadyKept(AgentApi api) {
        long last = -1;
        while (true) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(300));
            long kept = api.session(MIGRATION, "source").path("counters").path("keptFrames").asLong();
            if (kept == last) {
                return kept;
            }
            last = kept;
        }
    }

    /** utime + stime of process {@code pid}, in clock ticks. */
    private static long cpuTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // Fields 14 and 15 of stat(5), counted from after the command name (field 3 is index 0).
            return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Encode (as the source does, batch by batch) and decode (16 KiB pieces) in this thread. */
    private static String codec(int size, int frames, int repetitions) {
        NettyDataBufferFactory buffers = new NettyDataBufferFactory(PooledByteBufAllocator.DEFAULT);
        FrameStreamEncoder encoder = new FrameStreamEncoder();
        SequencedTraffic traffic = new SequencedTraffic(CLIENT_MAC, VM_MAC, size);
        byte[][] distinct = new byte[BATCH_FRAMES][];
        for (int i = 0; i < BATCH_FRAMES; i++) {
            distinct[i] = traffic.frame(i);
        }
        byte[] vnetHeader = new byte[ForwardedFrame.VNET_HEADER_SIZE];
        Samples encodeRate = new Samples();
        Samples codecRate = new Samples();
        for (int repetition = 0; repetition < repetitions + 2; repetition++) {
            FrameStreamDecoder decoder = new FrameStreamDecoder();
            long[] decoded = new long[2];
            long encodeNanos = 0;
            long start = System.nanoTime();
            decoder.decode(encoder.header(buffers), frame -> { });
            for (long first = 0; first < frames; first += BATCH_FRAMES) {
                long encodeStart = System.nanoTime();
                List<DataBuffer> records = new ArrayList<>(BATCH_FRAMES);
                for (int i = 0; i < BATCH_FRAMES; i++) {
                    records.add(encoder.encode(new ForwardedFrame(first + i, false, vnetHeader, distinct[i]),
                            buffers));
                }
                DataBuffer chunk = buffers.join(records);
                encodeNanos += System.nanoTime() - encodeStart;
                while (chunk.readableByteCount() > DATA_FRAME) {
                    decoder.decode(chunk.split(chunk.readPosition() + DATA_FRAME), record -> count(record, decoded));
                }
                decoder.decode(chunk, record -> count(record, decoded));
            }
            long nanos = System.nanoTime() - start;
            if (repetition >= 2) {
                encodeRate.add(decoded[1] / MIB * 1e9 / encodeNanos);
                codecRate.add(decoded[1] / MIB * 1e9 / nanos);
            }
        }
        return String.format(Locale.ROOT, "codec alone, %d B frames, one thread: encode+decode %s MiB/s payload"
                + " (encode alone %s MiB/s)", size, codecRate.summary("%.0f"), encodeRate.summary("%.0f"));
    }

    private static void count(FrameStreamRecord record, long[] decoded) {
        if (record instanceof ForwardedFrame frame) {
            decoded[0]++;
            decoded[1] += frame.frame().length;
        }
    }
}
