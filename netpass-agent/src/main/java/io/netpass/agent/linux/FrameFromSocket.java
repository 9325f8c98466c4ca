package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * An AF_PACKET socket on one interface that receives only the frames handed to it (outgoing, towards a tap's VM)
 * whose source address is one of a few MACs, filtered in the kernel by a classic BPF program. A thread waiting on
 * it wakes the moment such a frame is handed over, where a TPACKET_V3 capture ring hands frames over a block at a
 * time (up to its block timeout, a millisecond, later). Frames of other sources never reach user space.
 */
public final class FrameFromSocket implements AutoCloseable {

    private static final int SO_ATTACH_FILTER = 26;
    private static final int SKF_AD_PKTTYPE = 0xfffff000 + 4;
    private static final int PACKET_OUTGOING = 4;
    private static final int FILTER_INSTRUCTION_SIZE = 8;
    private static final int FRAME_PREFIX = 64;

    // Classic BPF opcodes (linux/filter.h).
    private static final short LD_W_ABS = 0x20;
    private static final short LD_H_ABS = 0x28;
    private static final short JEQ_K = 0x15;
    private static final short RET_K = 0x06;

    private final String subject;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollfd;
    private final MemorySegment frame;

    private FrameFromSocket(String subject, int fd) {
        this.subject = subject;
        this.fd = fd;
        this.pollfd = arena.allocate(8, 4);
        this.frame = arena.allocate(FRAME_PREFIX);
    }

    /**
     * Opens the socket on {@code link} for frames handed to it from any of {@code sourceMacs} (48-bit values). It
     * receives nothing before its filter is attached.
     */
    public static FrameFromSocket open(NetworkNamespace namespace, Link link, List<Long> sourceMacs) {
        if (sourceMacs.isEmpty()) {
            throw new IllegalArgumentException("no source MAC to filter on");
        }
        String subject = link.name();
        int fd = PacketSockets.open(namespace, subject);
        try (Arena program = Arena.ofConfined()) {
            MemorySegment instructions = filter(program, sourceMacs);
            MemorySegment fprog = program.allocate(16, 8);
            fprog.set(JAVA_SHORT, 0, (short) (instructions.byteSize() / FILTER_INSTRUCTION_SIZE));
            fprog.set(ADDRESS, 8, instructions);
            Sockets.check(Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_ATTACH_FILTER, fprog), "setsockopt SO_ATTACH_FILTER",
                    subject);
            PacketSockets.bind(fd, link.index(), Libc.ETH_P_ALL, subject);
            return new FrameFromSocket(subject, fd);
        } catch (RuntimeException e) {
            PacketSockets.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * The program: accept an outgoing frame whose bytes 6–11 (the source address) are one of the MACs, drop anything
     * else. Per MAC, its first four bytes then its last two; a mismatch goes on to the next MAC, past the last to
     * the drop.
     */
    private static MemorySegment filter(Arena arena, List<Long> macs) {
        int count = 2 + 4 * macs.size() + 2;
        int drop = count - 2;
        int accept = count - 1;
        MemorySegment program = arena.allocate((long) count * FILTER_INSTRUCTION_SIZE, 8);
        int at = 0;
        at = instruction(program, at, LD_W_ABS, 0, 0, SKF_AD_PKTTYPE);
        at = instruction(program, at, JEQ_K, 0, drop - (at + 1), PACKET_OUTGOING);
        for (long mac : macs) {
            at = instruction(program, at, LD_W_ABS, 0, 0, 6);
            at = instruction(program, at, JEQ_K, 0, 2, (int) (mac >>> 16));
            at = instruction(program, at, LD_H_ABS, 0, 0, 10);
            at = instruction(program, at, JEQ_K, accept - (at + 1), 0, (int) (mac & 0xFFFF));
        }
        at = instruction(program, at, RET_K, 0, 0, 0);
        instruction(program, at, RET_K, 0, 0, FRAME_PREFIX);
        return program;
    }

    private static int instruction(MemorySegment program, int index, short code, int jumpIfTrue, int jumpIfFalse,
            int k) {
        long offset = (long) index * FILTER_INSTRUCTION_SIZE;
        program.set(JAVA_SHORT, offset, code);
        program.set(JAVA_BYTE, offset + 2, (byte) jumpIfTrue);
        program.set(JAVA_BYTE, offset + 3, (byte) jumpIfFalse);
        program.set(JAVA_INT, offset + 4, k);
        return index + 1;
    }

    /**
     * Waits up to {@code timeoutMillis} for such a frame; true if one (or more) came, which are then consumed.
     *
     * @throws NativeCallException if polling or receiving fails (the interface went away, for one)
     */
    public boolean awaitFrame(int timeoutMillis) {
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, Libc.POLLIN);
        pollfd.set(JAVA_SHORT, 6, (short) 0);
        int ready = Libc.poll(pollfd, 1, timeoutMillis);
        if (ready < 0) {
            int errno = Libc.errno();
            if (errno == Libc.EINTR) {
                return false;
            }
            throw new NativeCallException("poll", subject, errno);
        }
        boolean received = false;
        while (Libc.recv(fd, frame, frame.byteSize(), Libc.MSG_DONTWAIT) >= 0) {
            received = true;
        }
        int errno = Libc.errno();
        if (errno != Libc.EAGAIN && errno != Libc.EINTR) {
            throw new NativeCallException("recv", subject, errno);
        }
        return received;
    }

    @Override
    public void close() {
        PacketSockets.closeQuietly(fd);
        arena.close();
    }
}
