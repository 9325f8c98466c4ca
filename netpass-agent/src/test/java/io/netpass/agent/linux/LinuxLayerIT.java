package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.GsoTcpFrame;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;
import io.netpass.agent.testing.VirtioNetHeader;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The linux layer against a real kernel: a client namespace wired through a host's bridge to a fake VM's tap.
 * Needs root.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LinuxLayerIT {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:12:34:56");
    private static final String TAP = "tap0";
    private static final int FRAMES = 200;
    private static final Duration ARRIVAL = Duration.ofSeconds(5);
    // How long to keep looking for frames that should not come.
    private static final Duration QUIET = Duration.ofMillis(300);
    private static final int BLOCK_SIZE = 1 << 20;
    private static final int BLOCKS = 4;
    private static final int BLOCK_TIMEOUT_MILLIS = 5;
    private static final int PACKET_BROADCAST = 1;
    private static final long FULL_RING_TIMEOUT_NANOS = Duration.ofSeconds(5).toNanos();

    private NamespaceLab lab;
    private Host host;
    private Client client;
    private FakeVm vm;
    private NetworkLinks hostLinks;

    @BeforeEach
    void buildLab() {
        lab = new NamespaceLab();
        host = lab.host("src");
        client = lab.client("c1", host);
        vm = host.startVm(TAP, VM_MAC);
        // Teaches the bridge where the VM is, so frames to it go to the tap alone instead of being flooded.
        vm.announce();
        hostLinks = NetworkLinks.open(host.network());
    }

    @AfterEach
    void removeLab() {
        hostLinks.close();
        lab.close();
    }

    @ParameterizedTest(name = "VM reading: {0}")
    @ValueSource(booleans = {true, false})
    void captureOnTheTapSeesExactlyTheClientsFramesAsOutgoingInOrder(boolean vmReading) {
        if (!vmReading) {
            vm.pause();
        }
        try (CaptureRing ring = openRing(); FrameSender sender = client.sender()) {
            List<byte[]> sent = sender.send(client.trafficTo(VM_MAC), 0, FRAMES);

            List<Seen> seen = capture(ring, FRAMES);

            assertThat(seen).allSatisfy(frame -> {
                assertThat(frame.outgoing()).as("outgoing").isTrue();
                assertThat(frame.header()).isEqualTo(VirtioNetHeader.NONE);
            });
            assertSameFrames(seen.stream().map(Seen::frame).toList(), sent, "captured");
            assertThat(ring.statistics().drops()).isZero();
            if (vmReading) {
                List<FakeVm.ReadFrame> read = vm.awaitFrames(FRAMES, ARRIVAL);
                assertSameFrames(frames(read), sent, "read by the VM");
                assertThat(read).allSatisfy(frame ->
                        assertThat(frame.vnetHeader()).isEqualTo(new byte[FakeVm.VNET_HEADER_SIZE]));
            } else {
                assertThat(vm.readFrames()).isEmpty();
            }
        }
    }

    @Test
    void aFrameFromSocketWakesOnlyForFramesHandedToTheTapFromItsAddresses() {
        Link tap = hostLinks.byName(TAP);
        try (FrameFromSocket fromClient = FrameFromSocket.open(host.network(), tap, List.of(client.mac().value()));
                FrameFromSocket fromVm = FrameFromSocket.open(host.network(), tap, List.of(VM_MAC.value()));
                FrameSender sender = client.sender()) {
            assertThat(fromClient.awaitFrame(0)).as("nothing sent yet").isFalse();

            // The VM's own frame leaves through the tap the other way: not one handed to it.
            vm.announce();
            assertThat(fromVm.awaitFrame((int) QUIET.toMillis())).as("the VM's own frame").isFalse();

            sender.send(client.trafficTo(VM_MAC), 0, 1);
            assertThat(fromClient.awaitFrame((int) ARRIVAL.toMillis())).as("the client's frame to the VM").isTrue();
            assertThat(fromVm.awaitFrame((int) QUIET.toMillis())).as("a frame from another address").isFalse();
            assertThat(fromClient.awaitFrame(0)).as("consumed").isFalse();
        }
    }

    @Test
    void gsoFrameCrossesTheBridgeWholeAndIsCapturedWithItsVirtioHeader() {
        GsoTcpFrame gso = GsoTcpFrame.of(client.mac(), VM_MAC, 20_000, 1);
        try (CaptureRing ring = openRing(); FrameSender sender = client.sender()) {
            sender.send(gso.header(), gso.frame());

            List<Seen> seen = capture(ring, 1);

            assertThat(seen).hasSize(1);
            assertThat(seen.getFirst().outgoing()).isTrue();
            assertThat(seen.getFirst().frame()).hasSize(gso.length()).isEqualTo(gso.frame());
            assertThat(seen.getFirst().header()).isEqualTo(gso.header());
            List<FakeVm.ReadFrame> read = vm.awaitFrames(1, ARRIVAL);
            assertThat(read).hasSize(1);
            assertThat(read.getFirst().frame()).isEqualTo(gso.frame());
            assertThat(read.getFirst().header()).isEqualTo(gso.header());
        }
    }

    @Test
    void framesTheVmSendsAreCapturedOnTheTapAsNotOutgoing() {
        try (CaptureRing ring = openRing()) {
            vm.announce();

            List<Seen> seen = captureFor(ring, QUIET);

            assertThat(seen).hasSize(1);
            assertThat(seen.getFirst().frame()).isEqualTo(FakeVm.announcement(VM_MAC));
            assertThat(seen.getFirst().outgoing()).isFalse();
            assertThat(seen.getFirst().packetType()).isEqualTo(PACKET_BROADCAST);
        }
    }

    @Test
    void tapCountsAFrameAsReadWhenTheVmReadsItNotWhenItIsQueued() throws InterruptedException {
        SequencedTraffic traffic = client.trafficTo(VM_MAC);
        TapCounters before = hostLinks.byName(TAP).counters();
        vm.pause();
        try (CaptureRing ring = openRing(); FrameSender sender = client.sender()) {
            sender.send(traffic, 0, FRAMES);
            assertThat(capture(ring, FRAMES)).as("frames handed to the tap").hasSize(FRAMES);
            Thread.sleep(QUIET);

            TapCounters queued = hostLinks.byName(TAP).counters();
            assertThat(queued).isEqualTo(before);
            assertThat(vm.readFrames()).isEmpty();

            vm.resume();
            List<FakeVm.ReadFrame> read = vm.awaitFrames(FRAMES, ARRIVAL);

            assertThat(read).hasSize(FRAMES);
            TapCounters after = hostLinks.byName(TAP).counters();
            assertThat(after.readFrames() - before.readFrames()).isEqualTo(FRAMES);
            assertThat(after.readBytes() - before.readBytes()).isEqualTo((long) FRAMES * traffic.frameSize());
            assertThat(after.droppedFrames()).isEqualTo(before.droppedFrames());
        }
    }

    @Test
    void injectedFramesReachTheVmByteIdenticalAndInOrder() {
        List<byte[]> frames = client.trafficTo(VM_MAC).frames(0, FRAMES);
        try (InjectionSocket socket = InjectionSocket.open(host.network(), hostLinks.byName(TAP))) {
            frames.forEach(frame -> inject(socket, VirtioNetHeader.NONE, frame));

            List<FakeVm.ReadFrame> read = vm.awaitFrames(FRAMES, ARRIVAL);

            assertSameFrames(frames(read), frames, "read by the VM");
            assertThat(read).allSatisfy(frame ->
                    assertThat(frame.vnetHeader()).isEqualTo(new byte[FakeVm.VNET_HEADER_SIZE]));
        }
    }

    @Test
    void injectedGsoFrameReachesTheVmWholeWithItsVirtioHeader() {
        GsoTcpFrame gso = GsoTcpFrame.of(client.mac(), VM_MAC, 20_000, 7);
        try (InjectionSocket socket = InjectionSocket.open(host.network(), hostLinks.byName(TAP))) {
            inject(socket, gso.header(), gso.frame());

            List<FakeVm.ReadFrame> read = vm.awaitFrames(1, ARRIVAL);

            assertThat(read).hasSize(1);
            assertThat(read.getFirst().frame()).hasSize(gso.length()).isEqualTo(gso.frame());
            assertThat(read.getFirst().header()).isEqualTo(gso.header());
        }
    }

    @Test
    void aTransmitRingInjectsEveryFrameOnceInOrderAndFramesTooBigForASlotThroughTheSocket() {
        host.ip("link", "set", TAP, "mtu", "9000");
        List<Injected> first = mixedFrames(0, 600);
        List<Injected> second = mixedFrames(600, 300);
        List<Long> refused = new ArrayList<>();
        try (InjectionRing ring = InjectionRing.open(host.network(), hostLinks.byName(TAP));
                FrameBatch one = batchOf(first);
                FrameBatch two = batchOf(second)) {
            long bytes = ring.send(one, FULL_RING_TIMEOUT_NANOS, (sequence, error) -> refused.add(sequence));
            bytes += ring.send(two, FULL_RING_TIMEOUT_NANOS, (sequence, error) -> refused.add(sequence));

            List<Injected> all = new ArrayList<>(first);
            all.addAll(second);
            assertThat(refused).isEmpty();
            assertThat(bytes).isEqualTo(all.stream().mapToLong(frame -> frame.frame().length).sum());
            assertThat(all).as("frames in slots and frames too big for one")
                    .anyMatch(frame -> frame.frame().length + VirtioNetHeader.SIZE == InjectionRing.SLOT_CAPACITY)
                    .anyMatch(frame -> frame.frame().length + VirtioNetHeader.SIZE == InjectionRing.SLOT_CAPACITY + 1)
                    .anyMatch(frame -> frame.frame().length == 9014)
                    .anyMatch(frame -> frame.header().gsoType() == VirtioNetHeader.GSO_TCPV4);
            assertReadOnceInOrder(all);
        }
    }

    @Test
    void framesInjectedThroughTheRingBypassTheQdiscUnseenByCaptureAsTheSocketsAre() {
        List<Injected> frames = mixedFrames(0, 60);
        try (CaptureRing capture = openRing();
                InjectionRing ring = InjectionRing.open(host.network(), hostLinks.byName(TAP));
                FrameBatch batch = batchOf(frames)) {
            ring.send(batch, FULL_RING_TIMEOUT_NANOS, (sequence, error) -> {
                throw new AssertionError("refused " + sequence, error);
            });

            assertReadOnceInOrder(frames);
            assertThat(captureFor(capture, QUIET)).isEmpty();
        }
    }

    @Test
    void aFullTapIsRetriedInOrderThroughTheRingUntilTheVmMakesRoom() throws Exception {
        host.ip("link", "set", TAP, "txqueuelen", "16");
        vm.pause();
        List<Injected> frames = mixedFrames(0, 100);
        long droppedBefore = hostLinks.byName(TAP).counters().droppedFrames();
        List<Long> refused = new ArrayList<>();
        try (InjectionRing ring = InjectionRing.open(host.network(), hostLinks.byName(TAP));
                FrameBatch batch = batchOf(frames)) {
            Thread.ofVirtual().start(() -> {
                sleep(Duration.ofMillis(200));
                vm.resume();
            });
            long bytes = ring.send(batch, FULL_RING_TIMEOUT_NANOS, (sequence, error) -> refused.add(sequence));

            assertThat(refused).isEmpty();
            assertThat(bytes).isEqualTo(frames.stream().mapToLong(frame -> frame.frame().length).sum());
            assertThat(hostLinks.byName(TAP).counters().droppedFrames() - droppedBefore)
                    .as("the full tap refused frames (each refusal is a tap drop) that were sent again").isPositive();
            assertReadOnceInOrder(frames);
        }
    }

    @Test
    void aFrameAFullTapStillRefusesAfterTheTimeoutIsReportedAndTheRestStillGo() {
        host.ip("link", "set", TAP, "txqueuelen", "8");
        vm.pause();
        List<Injected> frames = mixedFrames(0, 20).stream().filter(frame -> frame.frame().length < 1500).toList();
        Map<Long, NativeCallException> refused = new LinkedHashMap<>();
        try (InjectionRing ring = InjectionRing.open(host.network(), hostLinks.byName(TAP));
                FrameBatch batch = batchOf(frames)) {
            long bytes = ring.send(batch, Duration.ofMillis(200).toNanos(), (sequence, error) -> {
                refused.put(sequence, error);
                vm.resume();
            });

            Injected ninth = frames.get(8);
            assertThat(refused).containsOnlyKeys(ninth.sequence());
            assertThat(refused.get(ninth.sequence()).errno()).isEqualTo(Libc.ENOBUFS);
            List<Injected> sent = frames.stream().filter(frame -> frame != ninth).toList();
            assertThat(bytes).isEqualTo(sent.stream().mapToLong(frame -> frame.frame().length).sum());
            assertReadOnceInOrder(sent);
        }
    }

    @Test
    void aMalformedFrameIsReportedAndTheRestOfThisAndLaterBatchesStillGo() {
        List<Injected> frames = new ArrayList<>(mixedFrames(0, 20));
        Injected malformed = frames.get(10);
        // A checksum to fill in beyond the frame's end: the kernel refuses the frame with EINVAL.
        frames.set(10, new Injected(malformed.sequence(), new VirtioNetHeader(VirtioNetHeader.F_NEEDS_CSUM,
                VirtioNetHeader.GSO_NONE, 0, 0, 2_000, 6), malformed.frame()));
        List<Injected> later = mixedFrames(20, 10);
        Map<Long, NativeCallException> refused = new LinkedHashMap<>();
        try (InjectionRing ring = InjectionRing.open(host.network(), hostLinks.byName(TAP));
                FrameBatch batch = batchOf(frames);
                FrameBatch laterBatch = batchOf(later)) {
            long bytes = ring.send(batch, FULL_RING_TIMEOUT_NANOS, refused::put);
            bytes += ring.send(laterBatch, FULL_RING_TIMEOUT_NANOS, refused::put);

            assertThat(refused).containsOnlyKeys(malformed.sequence());
            assertThat(refused.get(malformed.sequence()).errno()).isEqualTo(Libc.EINVAL);
            List<Injected> sent = new ArrayList<>(frames);
            sent.remove(10);
            sent.addAll(later);
            assertThat(bytes).isEqualTo(sent.stream().mapToLong(frame -> frame.frame().length).sum());
            assertReadOnceInOrder(sent);
        }
    }

    @Test
    void framesInjectedPastTheQdiscAreHiddenFromCaptureButNormalSendsAreNot() {
        List<byte[]> frames = client.trafficTo(VM_MAC).frames(0, 20);
        Link tap = hostLinks.byName(TAP);
        try (CaptureRing ring = openRing();
                InjectionSocket bypassing = InjectionSocket.open(host.network(), tap);
                InjectionSocket normal = InjectionSocket.open(host.network(), tap, false)) {
            frames.forEach(frame -> inject(bypassing, VirtioNetHeader.NONE, frame));
            assertThat(vm.awaitFrames(frames.size(), ARRIVAL)).hasSize(frames.size());
            assertThat(captureFor(ring, QUIET)).isEmpty();

            frames.forEach(frame -> inject(normal, VirtioNetHeader.NONE, frame));
            List<Seen> seen = capture(ring, frames.size());

            assertThat(seen).allSatisfy(frame -> assertThat(frame.outgoing()).isTrue());
            assertSameFrames(seen.stream().map(Seen::frame).toList(), frames, "captured");
            assertThat(vm.awaitFrames(2 * frames.size(), ARRIVAL)).hasSize(2 * frames.size());
        }
    }

    @Test
    void unknownInterfaceNameIsInterfaceNotFound() {
        assertThatThrownBy(() -> hostLinks.byName("nosuchif0"))
                .isInstanceOf(InterfaceNotFoundException.class)
                .hasMessageContaining("nosuchif0")
                .hasMessageContaining(host.namespace().path().toString());
    }

    @Test
    void vethIsNotATapButTheVmsTapIs() {
        Link veth = hostLinks.byName(client.hostPort());
        Link tap = hostLinks.byName(TAP);
        Link bridge = hostLinks.byName(Host.BRIDGE);

        assertThat(veth.kind()).isEqualTo("veth");
        assertThat(veth.tap()).isFalse();
        assertThat(bridge.kind()).isEqualTo("bridge");
        assertThat(bridge.tap()).isFalse();
        assertThat(tap.kind()).isEqualTo("tun");
        assertThat(tap.tap()).isTrue();
        assertThat(hostLinks.byIndex(tap.index()).name()).isEqualTo(TAP);
    }

    @Test
    void fileThatIsNotANetworkNamespaceIsRejected() {
        Path notANamespace = Path.of("/etc/hostname");
        Path missing = Path.of("/run/netns", lab.id() + "-missing");

        assertThatThrownBy(() -> NetworkNamespace.at(notANamespace))
                .isInstanceOf(NotANetworkNamespaceException.class)
                .hasMessageContaining("/etc/hostname")
                .cause().hasMessageStartingWith("setns(/etc/hostname): EINVAL");
        assertThatThrownBy(() -> NetworkNamespace.at(missing))
                .isInstanceOf(NotANetworkNamespaceException.class)
                .cause().hasMessageStartingWith("open(" + missing + "): ENOENT");
    }

    @Test
    void bindingToAVanishedInterfaceNamesTheCallTheInterfaceAndErrno() {
        host.ip("link", "add", "gone0", "type", "veth", "peer", "name", "gone1");
        Link gone = hostLinks.byName("gone0");
        host.ip("link", "delete", "gone0");

        assertThatThrownBy(() -> InjectionSocket.open(host.network(), gone))
                .isInstanceOfSatisfying(NativeCallException.class, e -> {
                    assertThat(e.getMessage()).startsWith("bind(gone0): ENODEV");
                    assertThat(e.call()).isEqualTo("bind");
                    assertThat(e.subject()).isEqualTo("gone0");
                    assertThat(e.errno()).isEqualTo(19);
                });
        assertThatThrownBy(() -> CaptureRing.open(host.network(), gone, BLOCK_SIZE, BLOCKS, BLOCK_TIMEOUT_MILLIS))
                .isInstanceOf(NativeCallException.class)
                .hasMessageStartingWith("bind(gone0): ENODEV");
        assertThatThrownBy(() -> hostLinks.byIndex(gone.index()))
                .isInstanceOf(InterfaceNotFoundException.class);
    }

    private CaptureRing openRing() {
        return CaptureRing.open(host.network(), hostLinks.byName(TAP), BLOCK_SIZE, BLOCKS, BLOCK_TIMEOUT_MILLIS);
    }

    /** One captured frame, copied out of the ring. */
    private record Seen(VirtioNetHeader header, byte[] frame, int packetType) {

        boolean outgoing() {
            return packetType == CapturedFrame.OUTGOING;
        }

        @Override
        public String toString() {
            long sequence = SequencedTraffic.sequenceOf(frame, 0);
            String what = sequence >= 0 ? "sequence " + sequence
                    : HexFormat.of().formatHex(frame, 0, Math.min(frame.length, 64));
            return "type " + packetType + ", " + frame.length + " bytes, " + what + ", " + header;
        }
    }

    /** Captures until {@code expected} frames came (or {@link #ARRIVAL} passed), then for {@link #QUIET} more. */
    private static List<Seen> capture(CaptureRing ring, int expected) {
        List<Seen> seen = new ArrayList<>();
        long deadline = System.nanoTime() + ARRIVAL.toNanos();
        while (seen.size() < expected && System.nanoTime() < deadline) {
            ring.poll(20, frame -> seen.add(copy(frame)));
        }
        seen.addAll(captureFor(ring, QUIET));
        return seen;
    }

    private static List<Seen> captureFor(CaptureRing ring, Duration duration) {
        List<Seen> seen = new ArrayList<>();
        long deadline = System.nanoTime() + duration.toNanos();
        while (System.nanoTime() < deadline) {
            ring.poll(20, frame -> seen.add(copy(frame)));
        }
        return seen;
    }

    private static Seen copy(CapturedFrame frame) {
        assertThat(frame.truncated()).as("truncated").isFalse();
        assertThat(frame.vlanTag()).as("VLAN tag").isEqualTo(-1);
        return new Seen(VirtioNetHeader.parse(frame.vnetHeader().toArray(JAVA_BYTE), 0),
                frame.frame().toArray(JAVA_BYTE), frame.packetType());
    }

    private static void inject(InjectionSocket socket, VirtioNetHeader header, byte[] frame) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment segment = arena.allocate(InjectionSocket.VNET_HEADER_SIZE + frame.length);
            MemorySegment.copy(header.toBytes(), 0, segment, JAVA_BYTE, 0, InjectionSocket.VNET_HEADER_SIZE);
            MemorySegment.copy(frame, 0, segment, JAVA_BYTE, InjectionSocket.VNET_HEADER_SIZE, frame.length);
            socket.send(segment, segment.byteSize());
        }
    }

    /** A frame to inject with its sequence number and vnet header. */
    private record Injected(long sequence, VirtioNetHeader header, byte[] frame) {
    }

    /**
     * {@code count} frames from sequence {@code first}: mostly 128 B, some of 1514 B, some GSO frames of 20 kB; on a
     * tap with MTU 9000 (which the test sets), frames that just fit a ring slot, just do not, and of 9014 B.
     */
    private List<Injected> mixedFrames(long first, int count) {
        SequencedTraffic small = client.trafficTo(VM_MAC);
        SequencedTraffic mtu = new SequencedTraffic(client.mac(), VM_MAC, 1514);
        SequencedTraffic fitting = new SequencedTraffic(client.mac(), VM_MAC,
                InjectionRing.SLOT_CAPACITY - VirtioNetHeader.SIZE);
        SequencedTraffic tooBig = new SequencedTraffic(client.mac(), VM_MAC,
                InjectionRing.SLOT_CAPACITY - VirtioNetHeader.SIZE + 1);
        SequencedTraffic jumbo = new SequencedTraffic(client.mac(), VM_MAC, 9014);
        boolean jumboTap = hostLinks.byName(TAP).mtu() == 9000;
        List<Injected> frames = new ArrayList<>();
        for (long sequence = first; sequence < first + count; sequence++) {
            if (sequence % 50 == 25) {
                GsoTcpFrame gso = GsoTcpFrame.of(client.mac(), VM_MAC, 20_000, sequence);
                frames.add(new Injected(sequence, gso.header(), gso.frame()));
            } else {
                int kind = jumboTap ? (int) (sequence % 100) : 0;
                SequencedTraffic traffic = switch (kind) {
                    case 60 -> fitting;
                    case 61, 62 -> tooBig;
                    case 63 -> jumbo;
                    default -> sequence % 7 == 3 ? mtu : small;
                };
                frames.add(new Injected(sequence, VirtioNetHeader.NONE, traffic.frame(sequence)));
            }
        }
        return frames;
    }

    private static FrameBatch batchOf(List<Injected> frames) {
        long capacity = frames.stream().mapToLong(frame -> VirtioNetHeader.SIZE + frame.frame().length + 8).sum();
        FrameBatch batch = new FrameBatch(frames.size(), capacity);
        for (Injected frame : frames) {
            assertThat(batch.add(frame.sequence(), MemorySegment.ofArray(frame.header().toBytes()),
                    MemorySegment.ofArray(frame.frame()))).isTrue();
        }
        return batch;
    }

    /** The VM reads exactly {@code frames}, in order, each once, with the vnet header they were injected with. */
    private void assertReadOnceInOrder(List<Injected> frames) {
        List<FakeVm.ReadFrame> read = vm.awaitFrames(frames.size(), ARRIVAL);
        assertSameFrames(frames(read), frames.stream().map(Injected::frame).toList(), "read by the VM");
        for (int i = 0; i < frames.size(); i++) {
            assertThat(read.get(i).header()).as("vnet header of frame %d", i).isEqualTo(frames.get(i).header());
        }
        assertThat(vm.awaitFrames(frames.size() + 1, QUIET)).as("no frame read twice").hasSize(frames.size());
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<byte[]> frames(List<FakeVm.ReadFrame> read) {
        return read.stream().map(FakeVm.ReadFrame::frame).toList();
    }

    /** Same sequence numbers in the same order (a readable failure first), then the same bytes. */
    private static void assertSameFrames(List<byte[]> actual, List<byte[]> expected, String what) {
        assertThat(actual.stream().map(frame -> SequencedTraffic.sequenceOf(frame, 0)).toList())
                .as("sequence numbers of the frames " + what)
                .isEqualTo(expected.stream().map(frame -> SequencedTraffic.sequenceOf(frame, 0)).toList());
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i)).as(what + " frame " + i).isEqualTo(expected.get(i));
        }
    }
}
