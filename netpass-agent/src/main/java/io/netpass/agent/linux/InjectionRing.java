package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * Injection into one interface through a memory-mapped TPACKET_V2 transmit ring (PACKET_TX_RING), with the vnet
 * header and qdisc bypass of an {@link InjectionSocket}: frames are written into the ring's slots and one
 * {@code send} makes the kernel send every slot marked ready, sparing the per-message work of {@code sendmmsg}
 * (message and iovec import, the security hook). Frames that do not fit a slot go through an
 * {@link InjectionSocket}, in order.
 *
 * <p>The kernel walks the ring from its own position and stops at a frame it refuses. A full tap refuses with
 * ENOBUFS and puts the slot back to "send requested", so trying again resumes there. Any other refusal (a malformed
 * frame, the interface down or gone) or a full ring for longer than the timeout leaves the kernel's position stuck
 * on that slot; the ring is then given up and every later frame goes through the {@link InjectionSocket}.
 */
public final class InjectionRing implements AutoCloseable {

    /** Bytes per slot: a TPACKET_V2 header, then the vnet header and frame. */
    static final int SLOT_SIZE = 2048;
    /** Slots in the ring; one {@link FrameBatch} of this many frames is sent with one {@code send}. */
    static final int SLOTS = 256;
    private static final int BLOCK_SIZE = 4096;
    private static final int TP_STATUS_AVAILABLE = 0;
    private static final int TP_STATUS_SEND_REQUEST = 1;
    private static final int TP_STATUS_WRONG_FORMAT = 4;
    private static final int TP_LEN = 4;
    private static final int GSO_TYPE = 1;
    private static final int HDR_LEN = 2;
    private static final int ETHERNET_HEADER = 14;
    /** TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): where the kernel reads a slot's data without PACKET_TX_HAS_OFF. */
    private static final int DATA_OFFSET = 32;
    /** The longest vnet header and frame that fit in a slot. */
    static final int SLOT_CAPACITY = SLOT_SIZE - DATA_OFFSET;
    /** Ring bytes mapped per injecting interface. */
    public static final long MAPPED_BYTES = (long) SLOT_SIZE * SLOTS;

    private final String subject;
    private final int fd;
    private final MemorySegment ring;
    private final InjectionSocket unslotted;
    private final int longestPlainEntry;
    private int position;
    private boolean givenUp;
    private boolean closed;
    private long ringBytes;

    private InjectionRing(String subject, int fd, MemorySegment ring, InjectionSocket unslotted, int mtu) {
        this.subject = subject;
        this.fd = fd;
        this.ring = ring;
        this.unslotted = unslotted;
        this.longestPlainEntry = InjectionSocket.VNET_HEADER_SIZE + ETHERNET_HEADER + mtu;
    }

    /**
     * A ring that injects into {@code link}, bypassing its qdisc: {@link #MAPPED_BYTES} of kernel memory mapped into
     * this process, and two packet sockets.
     */
    public static InjectionRing open(NetworkNamespace namespace, Link link) {
        String subject = link.name();
        InjectionSocket unslotted = InjectionSocket.open(namespace, link);
        int fd = -1;
        try {
            fd = PacketSockets.openForInjection(namespace, subject, true);
            Sockets.setInt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_VERSION, PacketSockets.TPACKET_V2,
                    "setsockopt PACKET_VERSION", subject);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment request = arena.allocate(16, 4);
                request.set(JAVA_INT, 0, BLOCK_SIZE);
                request.set(JAVA_INT, 4, (int) (MAPPED_BYTES / BLOCK_SIZE));
                request.set(JAVA_INT, 8, SLOT_SIZE);
                request.set(JAVA_INT, 12, SLOTS);
                Sockets.check(Libc.setsockopt(fd, Libc.SOL_PACKET, PacketSockets.PACKET_TX_RING, request),
                        "setsockopt PACKET_TX_RING", subject);
            }
            MemorySegment mapped = Libc.mmap(MAPPED_BYTES, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd);
            if (mapped.address() == -1L) {
                throw NativeCallException.lastError("mmap", subject);
            }
            try {
                PacketSockets.bind(fd, link.index(), 0, subject);
            } catch (RuntimeException e) {
                Libc.munmap(mapped, MAPPED_BYTES);
                throw e;
            }
            return new InjectionRing(subject, fd, mapped.reinterpret(MAPPED_BYTES), unslotted, link.mtu());
        } catch (RuntimeException e) {
            PacketSockets.closeQuietly(fd);
            unslotted.close();
            throw e;
        }
    }

    /**
     * Sends every frame of {@code batch} in order, with the semantics of
     * {@link InjectionSocket#send(FrameBatch, long, InjectionSocket.BatchFailureHandler)}: a frame a full tap
     * refuses is tried again until {@code fullRingTimeoutNanos} has passed, a frame refused otherwise (or for longer)
     * is handed to {@code failures} and the rest are still sent.
     *
     * @return frame bytes sent, vnet headers excluded
     */
    public long send(FrameBatch batch, long fullRingTimeoutNanos, InjectionSocket.BatchFailureHandler failures) {
        long bytes = 0;
        int next = 0;
        while (next < batch.size()) {
            if (givenUp) {
                return bytes + unslotted.send(batch, next, batch.size(), fullRingTimeoutNanos, failures);
            }
            int end = next;
            while (end < batch.size() && end - next < SLOTS && fitsSlot(batch, end)) {
                end++;
            }
            if (end == next) {
                while (end < batch.size() && !fitsSlot(batch, end)) {
                    end++;
                }
                bytes += unslotted.send(batch, next, end, fullRingTimeoutNanos, failures);
                next = end;
            } else {
                ringBytes = 0;
                next = sendThroughRing(batch, next, end, fullRingTimeoutNanos, failures);
                bytes += ringBytes;
            }
        }
        return bytes;
    }

    /**
     * Whether entry {@code index} goes through the ring: it fits a slot and, without GSO, the interface's MTU. With
     * a vnet header the ring accepts a frame without GSO beyond the MTU, where {@code sendmmsg} refuses it
     * (EMSGSIZE, a VLAN tag allowed for): the socket keeps deciding about those.
     */
    private boolean fitsSlot(FrameBatch batch, int index) {
        long length = batch.entryLength(index);
        return length <= SLOT_CAPACITY && (length <= longestPlainEntry || batch.gsoType(index) != 0);
    }

    /**
     * Sends entries {@code from} to {@code to} (at most {@link #SLOTS}, each fitting a slot) through the ring, adding
     * their frame bytes to {@link #ringBytes}.
     *
     * @return the entry to send next: {@code to}, or the one after a refused entry once the ring is given up
     */
    private int sendThroughRing(FrameBatch batch, int from, int to, long fullRingTimeoutNanos,
            InjectionSocket.BatchFailureHandler failures) {
        for (int i = from; i < to; i++) {
            long slot = slotOffset(position + i - from);
            awaitAvailable(slot);
            batch.copyEntry(i, ring, slot + DATA_OFFSET);
            // The kernel copies hdr_len bytes into the skb and attaches the rest as pages of the ring, which the tap
            // copies again into fresh pages before it queues the frame: a whole frame in hdr_len makes one copy
            // into one buffer (a quarter less CPU per frame here). The VM never sees it: the tap writes its own
            // vnet header, with hdr_len 0 for a frame without GSO.
            if (ring.get(JAVA_BYTE, slot + DATA_OFFSET + GSO_TYPE) == 0) {
                ring.set(JAVA_SHORT_UNALIGNED, slot + DATA_OFFSET + HDR_LEN, (short) batch.frameLength(i));
            }
            ring.set(JAVA_INT, slot + TP_LEN, (int) batch.entryLength(i));
            VarHandle.releaseFence();
            ring.set(JAVA_INT, slot, TP_STATUS_SEND_REQUEST);
        }
        int done = from;
        long fullSince = 0;
        while (done < to) {
            long result = Libc.send(fd, MemorySegment.NULL, 0, 0);
            int errno = result < 0 ? Libc.errno() : Libc.EAGAIN;
            int progress = 0;
            while (done < to) {
                int status = status(slotOffset(position));
                if (status == TP_STATUS_SEND_REQUEST) {
                    break;
                }
                if ((status & TP_STATUS_WRONG_FORMAT) != 0) {
                    giveUp(batch.sequence(done), result < 0 ? errno : Libc.EINVAL, failures);
                    return done + 1;
                }
                // Available, or still being sent by a device that completes later: the kernel has it.
                ringBytes += batch.frameLength(done);
                done++;
                progress++;
                position = (position + 1) % SLOTS;
            }
            if (done == to || errno == Libc.EINTR) {
                continue;
            }
            long now = System.nanoTime();
            if (progress > 0 || fullSince == 0) {
                fullSince = now;
            }
            // A send that returns without error yet leaves a requested slot is treated like a full ring.
            if ((errno == Libc.ENOBUFS || errno == Libc.EAGAIN) && now - fullSince < fullRingTimeoutNanos) {
                LockSupport.parkNanos(InjectionSocket.FULL_RING_BACKOFF_NANOS);
                continue;
            }
            giveUp(batch.sequence(done), errno, failures);
            return done + 1;
        }
        return to;
    }

    /**
     * The kernel refused frame {@code sequence} and will not move past its slot: the frame is reported and the ring
     * is never sent from again, so the slots requested after it are withdrawn and go through the socket instead.
     */
    private void giveUp(long sequence, int errno, InjectionSocket.BatchFailureHandler failures) {
        givenUp = true;
        failures.refused(sequence, new NativeCallException("send (PACKET_TX_RING)", subject, errno));
    }

    private void awaitAvailable(long slot) {
        while (status(slot) != TP_STATUS_AVAILABLE) {
            LockSupport.parkNanos(InjectionSocket.FULL_RING_BACKOFF_NANOS);
        }
    }

    private int status(long slot) {
        int status = ring.get(JAVA_INT, slot);
        VarHandle.acquireFence();
        return status;
    }

    private static long slotOffset(int index) {
        return (long) (index % SLOTS) * SLOT_SIZE;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Libc.munmap(ring, ring.byteSize());
        Libc.close(fd);
        unslotted.close();
    }
}
