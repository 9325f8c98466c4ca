package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A memory-mapped TPACKET_V3 receive ring on an AF_PACKET socket bound to one interface, with PACKET_VNET_HDR so
 * GSO and checksum-offload metadata arrive with each frame. One thread polls it.
 *
 * <p>The socket sees the frames handed to the interface (for a tap: what the VM will read) after the qdisc and
 * before the tap's own drop decision, and the frames the interface receives.
 */
public final class CaptureRing implements AutoCloseable {

    private static final int TP_STATUS_KERNEL = 0;
    private static final int TP_STATUS_USER = 1;
    private static final int TP_STATUS_VLAN_VALID = 1 << 4;
    private static final int TP_STATUS_VLAN_TPID_VALID = 1 << 6;
    private static final int ETH_P_8021Q = 0x8100;
    private static final int BLOCK_STATUS = 8;
    private static final int BLOCK_NUM_PACKETS = 12;
    private static final int BLOCK_FIRST_PACKET = 16;
    private static final int SOCKADDR_LL_IN_FRAME = 48;
    private static final int VNET_HEADER_SIZE = 10;
    private static final int SO_ERROR = 4;

    /** Receives the frames of one poll. */
    @FunctionalInterface
    public interface FrameHandler {
        void onFrame(CapturedFrame frame);
    }

    private final String subject;
    private final int fd;
    private final int blockSize;
    private final int blockCount;
    private final MemorySegment ring;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollfd;
    private final MemorySegment statistics;
    private final MemorySegment statisticsLength;
    private final CapturedFrame view = new CapturedFrame();
    private final MemorySegment[] blocks;
    private int nextBlock;
    private long frames;
    private long drops;
    private volatile boolean interfaceGone;
    private boolean closed;

    private CaptureRing(String subject, int fd, int blockSize, int blockCount, MemorySegment ring) {
        this.subject = subject;
        this.fd = fd;
        this.blockSize = blockSize;
        this.blockCount = blockCount;
        this.ring = ring;
        this.pollfd = arena.allocate(8, 4);
        this.statistics = arena.allocate(12, 4);
        this.statisticsLength = arena.allocate(JAVA_INT);
        this.blocks = new MemorySegment[blockCount];
        for (int i = 0; i < blockCount; i++) {
            blocks[i] = ring.asSlice((long) i * blockSize, blockSize);
        }
    }

    /**
     * Opens a ring of {@code blockCount} blocks of {@code blockSize} bytes on interface {@code link} of
     * {@code namespace}; a block is handed over when full or {@code blockTimeoutMillis} after its first frame.
     */
    public static CaptureRing open(NetworkNamespace namespace, Link link, int blockSize, int blockCount,
            int blockTimeoutMillis) {
        String subject = link.name();
        int fd = PacketSockets.open(namespace, subject);
        try {
            Sockets.setInt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_VNET_HDR, 1, "setsockopt PACKET_VNET_HDR", subject);
            Sockets.setInt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_VERSION, PacketSockets.TPACKET_V3,
                    "setsockopt PACKET_VERSION", subject);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment request = arena.allocate(28, 4);
                request.set(JAVA_INT, 0, blockSize);
                request.set(JAVA_INT, 4, blockCount);
                request.set(JAVA_INT, 8, 2048);
                request.set(JAVA_INT, 12, (int) ((long) blockSize * blockCount / 2048));
                request.set(JAVA_INT, 16, blockTimeoutMillis);
                Sockets.check(Libc.setsockopt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_RX_RING, request),
                        "setsockopt PACKET_RX_RING", subject);
            }
            long length = (long) blockSize * blockCount;
            MemorySegment mapped = Libc.mmap(length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd);
            if (mapped.address() == -1L) {
                throw NativeCallException.lastError("mmap", subject);
            }
            try {
                PacketSockets.bind(fd, link.index(), Libc.ETH_P_ALL, subject);
            } catch (RuntimeException e) {
                // The mapping holds the socket open even after its descriptor is closed.
                Libc.munmap(mapped, length);
                throw e;
            }
            return new CaptureRing(subject, fd, blockSize, blockCount, mapped.reinterpret(length));
        } catch (RuntimeException e) {
            PacketSockets.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Hands every frame that is ready to {@code handler}, waiting up to {@code timeoutMillis} for the first block.
     *
     * @return the number of frames handed over
     */
    public int poll(int timeoutMillis, FrameHandler handler) {
        int handed = drain(handler);
        if (handed > 0) {
            return handed;
        }
        await(timeoutMillis);
        return drain(handler);
    }

    /** Waits up to {@code timeoutMillis} until a block is ready or the interface goes away. */
    public void await(int timeoutMillis) {
        if (closed || blockReady()) {
            return;
        }
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, (short) (Libc.POLLIN | Libc.POLLERR));
        pollfd.set(JAVA_SHORT, 6, (short) 0);
        int ready = Libc.poll(pollfd, 1, timeoutMillis);
        if (ready < 0 && Libc.errno() != Libc.EINTR) {
            throw NativeCallException.lastError("poll", subject);
        }
        short revents = pollfd.get(JAVA_SHORT, 6);
        if ((revents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0) {
            // ENETDOWN: the interface was unregistered. Reading SO_ERROR clears it so poll can sleep again while the
            // kernel's retire timer still hands over the last partly filled block.
            if (clearSocketError() == Libc.ENETDOWN || (revents & Libc.POLLNVAL) != 0) {
                interfaceGone = true;
            }
        }
    }

    /** Hands every frame that is ready to {@code handler} without waiting; returns how many. */
    public int drain(FrameHandler handler) {
        return closed ? 0 : drainReadyBlocks(handler);
    }

    private boolean blockReady() {
        int status = ring.get(JAVA_INT, (long) nextBlock * blockSize + BLOCK_STATUS);
        VarHandle.acquireFence();
        return (status & TP_STATUS_USER) != 0;
    }

    /** Whether the interface this ring was bound to has been unregistered. Frames already captured stay readable. */
    public boolean interfaceGone() {
        return interfaceGone;
    }

    /** The kernel's counts since the ring was opened. */
    public synchronized CaptureStatistics statistics() {
        if (!closed) {
            statisticsLength.set(JAVA_INT, 0, 12);
            // PACKET_STATISTICS resets the kernel's counters on every read, so they are summed here.
            if (Libc.getsockopt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_STATISTICS, statistics, statisticsLength) == 0) {
                frames += Integer.toUnsignedLong(statistics.get(JAVA_INT, 0));
                drops += Integer.toUnsignedLong(statistics.get(JAVA_INT, 4));
            }
        }
        return new CaptureStatistics(frames, drops);
    }

    private int clearSocketError() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment value = call.allocate(JAVA_INT);
            MemorySegment length = call.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 4);
            Libc.getsockopt(fd, Libc.SOL_SOCKET, SO_ERROR, value, length);
            return value.get(JAVA_INT, 0);
        }
    }

    private int drainReadyBlocks(FrameHandler handler) {
        int handed = 0;
        for (int visited = 0; visited < blockCount; visited++) {
            MemorySegment block = blocks[nextBlock];
            int status = block.get(JAVA_INT, BLOCK_STATUS);
            VarHandle.acquireFence();
            if ((status & TP_STATUS_USER) == 0) {
                break;
            }
            handed += walkBlock(block, handler);
            VarHandle.releaseFence();
            block.set(JAVA_INT, BLOCK_STATUS, TP_STATUS_KERNEL);
            nextBlock = (nextBlock + 1) % blockCount;
        }
        return handed;
    }

    private int walkBlock(MemorySegment block, FrameHandler handler) {
        int count = block.get(JAVA_INT, BLOCK_NUM_PACKETS);
        long offset = Integer.toUnsignedLong(block.get(JAVA_INT, BLOCK_FIRST_PACKET));
        for (int i = 0; i < count; i++) {
            int nextOffset = block.get(JAVA_INT, offset);
            long seconds = Integer.toUnsignedLong(block.get(JAVA_INT, offset + 4));
            long nanos = Integer.toUnsignedLong(block.get(JAVA_INT, offset + 8));
            int snapLength = block.get(JAVA_INT, offset + 12);
            int length = block.get(JAVA_INT, offset + 16);
            int status = block.get(JAVA_INT, offset + 20);
            int mac = Short.toUnsignedInt(block.get(JAVA_SHORT, offset + 24));
            view.kernelTimeNanos = seconds * 1_000_000_000L + nanos;
            view.wireLength = length;
            view.packetType = Byte.toUnsignedInt(block.get(JAVA_BYTE, offset + SOCKADDR_LL_IN_FRAME + 10));
            view.block = block;
            view.vnetHeaderOffset = offset + mac - VNET_HEADER_SIZE;
            view.frameOffset = offset + mac;
            view.frameLength = snapLength;
            if ((status & TP_STATUS_VLAN_VALID) != 0) {
                int tci = Short.toUnsignedInt(block.get(JAVA_SHORT, offset + 32));
                int tpid = (status & TP_STATUS_VLAN_TPID_VALID) != 0
                        ? Short.toUnsignedInt(block.get(JAVA_SHORT, offset + 36)) : ETH_P_8021Q;
                view.vlanTag = (tpid << 16) | tci;
            } else {
                view.vlanTag = -1;
            }
            handler.onFrame(view);
            offset += nextOffset;
        }
        return count;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        statistics();
        closed = true;
        Libc.munmap(ring, ring.byteSize());
        Libc.close(fd);
        arena.close();
    }
}
