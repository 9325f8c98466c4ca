package io.netpass.agent.capture;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.inject.TapInjector;
import io.netpass.agent.linux.InterfaceNotFoundException;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NotANetworkNamespaceException;
import io.netpass.agent.linux.NotATapException;
import io.netpass.agent.linux.TapCounters;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;

import org.springframework.util.unit.DataSize;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The source side of the data plane on real taps: which frames a paused VM never read. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CaptureSessionIT {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:70:01");
    private static final int TAP_QUEUE = 500;

    private static NamespaceLab lab;
    private static Host host;
    private static Client client;
    private static FrameSender sender;
    private static SequencedTraffic traffic;

    @BeforeAll
    static void startLab() {
        lab = new NamespaceLab();
        host = lab.host("src");
        client = lab.client("cl", host);
        sender = client.sender();
        traffic = client.trafficTo(VM_MAC);
    }

    @AfterAll
    static void stopLab() {
        if (sender != null) {
            sender.close();
        }
        if (lab != null) {
            lab.close();
        }
    }

    private static TapLocation tapOf(FakeVm vm) {
        return new TapLocation(host.namespace().path(), vm.tapName());
    }

    private static TapCounters counters(String tap) {
        try (NetworkLinks links = NetworkLinks.open(host.network())) {
            return links.byName(tap).counters();
        }
    }

    private static List<byte[]> keptFrames(CaptureSession session) {
        List<byte[]> kept = new ArrayList<>();
        session.forEachKept(frame -> kept.add(frame.frame().toArray(JAVA_BYTE)));
        return kept;
    }

    private static void awaitCondition(Duration timeout, java.util.function.BooleanSupplier condition)
            throws InterruptedException {
        awaitCondition(timeout, condition, () -> "");
    }

    private static void awaitCondition(Duration timeout, java.util.function.BooleanSupplier condition,
            java.util.function.Supplier<Object> state) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within " + timeout + ": " + state.get());
            }
            Thread.sleep(2);
        }
    }

    @Test
    void keepsExactlyTheFramesTheVmNeverReadAtRandomPausePoints() throws Exception {
        FakeVm vm = host.startVm("tapk0", VM_MAC);
        host.ip("link", "set", "tapk0", "txqueuelen", Integer.toString(TAP_QUEUE));
        ArmedTaps taps = new ArmedTaps(CaptureProperties.defaults());
        Random random = new Random(20260127);
        long next = 0;
        int repetitions = 50;
        long totalKept = 0;
        long totalTapDrops = 0;
        for (int repetition = 0; repetition < repetitions; repetition++) {
            int readBefore = vm.readFrames().size();
            TapCounters before = counters("tapk0");
            try (CaptureSession session = taps.arm(tapOf(vm))) {
                List<byte[]> sent = new ArrayList<>();
                // The VM reads for a while, then pauses at a random moment while traffic flows on.
                int streamed = 200 + random.nextInt(600);
                long first = next;
                CompletableFuture<List<byte[]>> streaming = CompletableFuture.supplyAsync(
                        () -> sender.sendAtRate(traffic, first, streamed, 50_000));
                Thread.sleep(random.nextInt(12));
                vm.pause();
                sent.addAll(streaming.get(30, TimeUnit.SECONDS));
                next += streamed;
                // Then more than the tap's ring holds, so the tap itself drops some.
                int overflow = TAP_QUEUE + random.nextInt(400);
                sent.addAll(sender.send(traffic, next, overflow));
                next += overflow;

                List<FakeVm.ReadFrame> read = vm.readFrames().subList(readBefore, vm.readFrames().size());
                List<byte[]> expectedKept = sent.subList(read.size(), sent.size());
                awaitCondition(Duration.ofSeconds(5), () -> session.status().capturedFrames() == sent.size());
                session.stopCapture();

                for (int i = 0; i < read.size(); i++) {
                    assertThat(read.get(i).frame()).as("frame %d read by the VM", i).isEqualTo(sent.get(i));
                }
                List<byte[]> kept = keptFrames(session);
                assertThat(kept).as("repetition %d: kept frame count; VM read %d of %d; %s", repetition, read.size(),
                        sent.size(), session.status()).hasSize(expectedKept.size());
                for (int i = 0; i < kept.size(); i++) {
                    assertThat(kept.get(i)).as("repetition %d: kept frame %d", repetition, i)
                            .isEqualTo(expectedKept.get(i));
                }
                CaptureStatus status = session.status();
                TapCounters after = counters("tapk0");
                assertThat(status.readFrames()).isEqualTo(read.size());
                assertThat(status.keptTapDrops()).as("kept frames the tap dropped")
                        .isEqualTo(after.droppedFrames() - before.droppedFrames()).isPositive();
                assertThat(status.drops()).as("nothing dropped by netpass").allSatisfy((reason, count) ->
                        assertThat(count).as(reason.tag()).isZero());
                assertThat(status.exactSinceArm()).isTrue();
                totalKept += kept.size();
                totalTapDrops += status.keptTapDrops();
            }
            vm.resume();
            vm.awaitFrames(vm.readFrames().size() + TAP_QUEUE, Duration.ofMillis(200));
        }
        assertThat(totalKept).isGreaterThan(repetitions * (long) TAP_QUEUE);
        assertThat(totalTapDrops).isPositive();
        vm.close();
    }

    @Test
    void armingWaitsForAVmBehindOnItsTapToCatchUpThenCountsExactly() throws Exception {
        FakeVm vm = host.startVm("tapb0", VM_MAC);
        host.ip("link", "set", "tapb0", "txqueuelen", Integer.toString(TAP_QUEUE));
        ArmedTaps taps = new ArmedTaps(CaptureProperties.defaults());
        long first = 5_000_000;
        List<byte[]> sent = new ArrayList<>(sender.send(traffic, first, 10));
        vm.awaitFrames(sent.size(), Duration.ofSeconds(5));
        // One read per millisecond while 1.5 frames arrive: the VM's backlog grows for as long as the traffic lasts,
        // longer than the settle window, so its ring is not seen empty there; it catches up once the traffic stops.
        vm.readAtMostEvery(Duration.ofMillis(1));
        AtomicBoolean busy = new AtomicBoolean(true);
        ExecutorService threads = Executors.newThreadPerTaskExecutor(Thread.ofPlatform().factory());
        Future<List<byte[]>> sending = threads.submit(() -> {
            List<byte[]> frames = new ArrayList<>();
            while (busy.get() && frames.size() < TAP_QUEUE) {
                frames.addAll(sender.sendAtRate(traffic, first + 10 + frames.size(), 15, 1_500));
            }
            return frames;
        });
        Thread.sleep(40);
        Future<CaptureSession> arming = threads.submit(() -> taps.arm(tapOf(vm)));
        awaitCondition(Duration.ofSeconds(10), () -> Thread.getAllStackTraces().keySet().stream()
                .anyMatch(thread -> thread.getName().equals("capture-tapb0")));
        Thread.sleep(3 * CaptureProperties.defaults().armSettleWindow().toMillis());
        busy.set(false);
        sent.addAll(sending.get(30, TimeUnit.SECONDS));
        vm.readAtMostEvery(Duration.ZERO);
        threads.shutdown();
        try (CaptureSession session = arming.get(30, TimeUnit.SECONDS)) {
            vm.awaitFrames(sent.size(), Duration.ofSeconds(5));
            vm.pause();
            sent.addAll(sender.send(traffic, first + sent.size(), 300));
            int read = vm.readFrames().size();
            awaitCondition(Duration.ofSeconds(5), () -> session.status().keptFrames() == sent.size() - read,
                    () -> session.status());
            session.stopCapture();

            List<Long> sentSequences = sent.stream().map(frame -> SequencedTraffic.sequenceOf(frame, 0)).toList();
            assertThat(vm.sequences()).as("the VM read the first frames sent, in order")
                    .isEqualTo(sentSequences.subList(0, read));
            assertThat(keptFrames(session).stream().map(frame -> SequencedTraffic.sequenceOf(frame, 0)).toList())
                    .as("kept: exactly the frames the VM never read (%s)", session.status())
                    .isEqualTo(sentSequences.subList(read, sent.size()));
            assertThat(session.status().exactSinceArm()).isTrue();
        } finally {
            vm.close();
        }
    }

    @Test
    void keptFramesSurviveTheTapDisappearingAndCanStillBeInjected() throws Exception {
        FakeVm source = host.startVm("tapg0", VM_MAC);
        FakeVm destination = host.startVm("tapg1", EthernetAddress.of("52:54:00:6e:70:02"));
        host.ip("link", "set", "tapg1", "nomaster");
        ArmedTaps taps = new ArmedTaps(CaptureProperties.defaults());
        try (CaptureSession session = taps.arm(tapOf(source))) {
            source.pause();
            List<byte[]> sent = sender.send(traffic, 1_000_000, 300);
            awaitCondition(Duration.ofSeconds(5), () -> session.status().capturedFrames() == 300);

            source.close();
            awaitCondition(Duration.ofSeconds(5), () -> !session.capturing());
            assertThat(session.status().tapGone()).isTrue();
            assertThat(keptFrames(session)).containsExactlyElementsOf(sent);

            try (TapInjector injector = TapInjector.open(tapOf(destination), Duration.ofSeconds(5))) {
                session.takeKept(Integer.MAX_VALUE, injector::inject);
                assertThat(injector.report().injectedFrames()).isEqualTo(300);
                assertThat(injector.report().failedFrames()).isZero();
            }
            List<FakeVm.ReadFrame> received = destination.awaitFrames(300, Duration.ofSeconds(5));
            assertThat(received.stream().map(FakeVm.ReadFrame::frame).toList()).containsExactlyElementsOf(sent);
            assertThat(session.status().keptFrames()).isZero();
        }
        destination.close();
    }

    @Test
    void byteCapDropsOnlyNewFramesCountedByReasonAndMemoryStaysBounded() throws Exception {
        FakeVm vm = host.startVm("tapc0", VM_MAC);
        DataSize cap = DataSize.ofKilobytes(256);
        // A deep capture ring, so that a loaded CI machine starving the capture thread cannot blur what this tests.
        CaptureProperties defaults = CaptureProperties.defaults();
        int ringBlocks = CaptureProperties.defaults().ringBlocks();
        ArmedTaps taps = new ArmedTaps(new CaptureProperties(cap, defaults.ringBlockSize(), ringBlocks,
                defaults.ringBlockTimeout(), defaults.counterInterval(), defaults.armSettleWindow(),
                defaults.armSettleTimeout()));
        SequencedTraffic large = new SequencedTraffic(client.mac(), VM_MAC, 1400);
        try (CaptureSession session = taps.arm(tapOf(vm))) {
            vm.pause();
            long captureThread = Thread.getAllStackTraces().keySet().stream()
                    .filter(thread -> thread.getName().equals("capture-tapc0")).findFirst().orElseThrow().threadId();
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
            long allocatedBefore = threads.getThreadAllocatedBytes(captureThread);
            int frames = 0;
            List<byte[]> firstSent = sender.send(large, 0, 1000);
            frames += 1000;
            long rssBefore = 0;
            long heapBefore = 0;
            // Frames are built once and sent again and again, so that the test itself does not churn the heap.
            List<byte[]> reused = large.frames(1000, 2000);
            long interval = TimeUnit.SECONDS.toNanos(1) / 25_000;
            for (int round = 0; round < 40; round++) {
                // The first half warms up the JIT and the heap; the second half must not grow the process.
                if (round == 20) {
                    rssBefore = residentBytes();
                    heapBefore = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage()
                            .getCommitted();
                }
                long start = System.nanoTime();
                for (int i = 0; i < reused.size(); i++) {
                    long due = start + i * interval;
                    while (System.nanoTime() < due) {
                        Thread.onSpinWait();
                    }
                    sender.send(reused.get(i));
                }
                frames += reused.size();
            }
            int total = frames;
            awaitCondition(Duration.ofSeconds(20), () -> session.status().capturedFrames() == total,
                    session::status);
            CaptureStatus status = session.status();
            assertThat(status.bufferBytes()).isLessThanOrEqualTo(cap.toBytes());
            assertThat(status.keptFrames()).as("kept frames and runs together cover every frame: %s", status)
                    .isEqualTo(total);
            long stored = keptFrames(session).size();
            assertThat(stored).isBetween(100L, 200L);
            assertThat(status.drops(DropReason.BUFFER_FULL)).isEqualTo(total - stored);
            assertThat(status.drops(DropReason.UNCOUNTED)).isZero();
            assertThat(status.drops(DropReason.CAPTURE_RING_FULL)).isZero();
            assertThat(status.exactSinceArm()).isTrue();
            assertThat(keptFrames(session)).containsExactlyElementsOf(firstSent.subList(0, (int) stored));
            // The test's own traffic generator may still grow the heap; what the session would add shows outside it.
            long heapGrowth = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage()
                    .getCommitted() - heapBefore;
            long rssGrowth = residentBytes() - rssBefore - Math.max(0, heapGrowth);
            // The kernel's capture ring enters RSS block by block as it is first filled; nothing else may grow.
            long bound = ringBlocks * defaults.ringBlockSize().toBytes() + cap.toBytes() + (8L << 20);
            assertThat(bound).as("the bound is below the traffic it is checked against").isLessThan(total * 700L);
            assertThat(rssGrowth).as("RSS growth outside the heap over the last %d MB of traffic",
                            total * 700L >> 20)
                    .isLessThan(bound);
            long allocated = threads.getThreadAllocatedBytes(captureThread) - allocatedBefore;
            assertThat(allocated).as("heap allocated by the capture thread for %d frames", total)
                    .isLessThan(4L << 20);
        }
        vm.close();
    }

    @Test
    void badInputGivesAClearErrorAndChangesNothing() throws Exception {
        FakeVm vm = host.startVm("tapb0", VM_MAC);
        ArmedTaps taps = new ArmedTaps(CaptureProperties.defaults());
        Path namespace = host.namespace().path();
        try (CaptureSession session = taps.arm(tapOf(vm))) {
            assertThatThrownBy(() -> taps.arm(new TapLocation(namespace, "nosuchtap0")))
                    .isInstanceOf(InterfaceNotFoundException.class).hasMessageContaining("nosuchtap0");
            assertThatThrownBy(() -> taps.arm(new TapLocation(namespace, Host.BRIDGE)))
                    .isInstanceOf(NotATapException.class).hasMessageContaining("br0").hasMessageContaining("bridge");
            Path notANamespace = Files.createTempFile("netpass", ".txt");
            assertThatThrownBy(() -> taps.arm(new TapLocation(notANamespace, "tapb0")))
                    .isInstanceOf(NotANetworkNamespaceException.class).hasMessageContaining("EINVAL");
            assertThatThrownBy(() -> taps.arm(new TapLocation(Path.of("/run/netns/np-none"), "tapb0")))
                    .isInstanceOf(NotANetworkNamespaceException.class).hasMessageContaining("ENOENT");
            assertThatThrownBy(() -> taps.arm(tapOf(vm))).isInstanceOf(TapAlreadyArmedException.class);
            Files.delete(notANamespace);

            assertThat(taps.sessions()).containsExactly(session);
            vm.pause();
            List<byte[]> sent = sender.send(traffic, 5_000_000, 20);
            awaitCondition(Duration.ofSeconds(5), () -> session.status().capturedFrames() == 20);
            assertThat(keptFrames(session)).containsExactlyElementsOf(sent);
        }
        assertThat(taps.sessions()).isEmpty();
        vm.close();
    }

    private static long residentBytes() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS");
    }

    @SuppressWarnings("unused")
    private static byte[] bytes(MemorySegment segment) {
        return Arrays.copyOf(segment.toArray(JAVA_BYTE), (int) segment.byteSize());
    }
}
