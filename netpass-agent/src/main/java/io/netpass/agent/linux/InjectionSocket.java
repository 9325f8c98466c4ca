package io.netpass.agent.linux;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * An AF_PACKET socket that writes frames, each preceded by its virtio_net_hdr, into one interface. For a tap the
 * frame lands in the tap's ring and the VM reads it as if it came from the network. PACKET_QDISC_BYPASS skips
 * the qdisc, so injected frames neither wait behind nor get shaped with new traffic, and other packet sockets on
 * the tap (a capture of our own) do not see them.
 */
public final class InjectionSocket implements AutoCloseable {

    /** Size of the virtio_net_hdr each frame given to {@link #send} must start with. */
    public static final int VNET_HEADER_SIZE = 10;

    /** How long to wait before trying a frame again that a full tap ring refused. */
    static final long FULL_RING_BACKOFF_NANOS = 50_000;

    private final String subject;
    private final int fd;

    private InjectionSocket(String subject, int fd) {
        this.subject = subject;
        this.fd = fd;
    }

    /** A socket that injects into {@code link}, bypassing its qdisc. */
    public static InjectionSocket open(NetworkNamespace namespace, Link link) {
        return open(namespace, link, true);
    }

    /**
     * A socket that sends into {@code link}; with {@code bypassQdisc} false the frames take the normal transmit
     * path, so packet sockets on the interface see them as a host's frames (traffic generators use this).
     */
    public static InjectionSocket open(NetworkNamespace namespace, Link link, boolean bypassQdisc) {
        String subject = link.name();
        int fd = PacketSockets.openForInjection(namespace, subject, bypassQdisc);
        try {
            PacketSockets.bind(fd, link.index(), 0, subject);
            return new InjectionSocket(subject, fd);
        } catch (RuntimeException e) {
            PacketSockets.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Sends one frame: {@code length} bytes of {@code headerAndFrame}, a virtio_net_hdr followed by the Ethernet
     * frame.
     *
     * @throws NativeCallException naming {@code send}, the interface and errno when the kernel refuses the frame
     */
    public void send(MemorySegment headerAndFrame, long length) {
        while (true) {
            long sent = Libc.send(fd, headerAndFrame, length, 0);
            if (sent >= 0) {
                return;
            }
            int errno = Libc.errno();
            if (errno != Libc.EINTR) {
                throw new NativeCallException("send", subject, errno);
            }
        }
    }

    /** What became of one {@link FrameBatch}. */
    @FunctionalInterface
    public interface BatchFailureHandler {
        /** The kernel refused the frame numbered {@code sequence}. */
        void refused(long sequence, NativeCallException error);
    }

    /**
     * Sends every frame of {@code batch} in order with as few {@code sendmmsg} calls as the kernel allows. A tap
     * whose ring is full refuses a bypassing frame with ENOBUFS: that frame is tried again, in order, until
     * {@code fullRingTimeoutNanos} has passed. A frame the kernel refuses otherwise (or for longer) is handed to
     * {@code failures} and the rest are still sent.
     *
     * @return frame bytes sent, vnet headers excluded
     */
    public long send(FrameBatch batch, long fullRingTimeoutNanos, BatchFailureHandler failures) {
        return send(batch, 0, batch.size(), fullRingTimeoutNanos, failures);
    }

    /** {@link #send(FrameBatch, long, BatchFailureHandler)} for the entries {@code from} (inclusive) to {@code to}. */
    long send(FrameBatch batch, int from, int to, long fullRingTimeoutNanos, BatchFailureHandler failures) {
        long bytes = 0;
        int next = from;
        long fullSince = 0;
        while (next < to) {
            int sent = Libc.sendmmsg(fd, batch.messagesFrom(next), to - next, 0);
            if (sent <= 0) {
                int errno = sent == 0 ? Libc.EAGAIN : Libc.errno();
                if (errno == Libc.EINTR) {
                    continue;
                }
                if (errno == Libc.ENOBUFS) {
                    long now = System.nanoTime();
                    if (fullSince == 0) {
                        fullSince = now;
                    }
                    if (now - fullSince < fullRingTimeoutNanos) {
                        LockSupport.parkNanos(FULL_RING_BACKOFF_NANOS);
                        continue;
                    }
                }
                fullSince = 0;
                failures.refused(batch.sequence(next), new NativeCallException("sendmmsg", subject, errno));
                next++;
                continue;
            }
            fullSince = 0;
            for (int i = next; i < next + sent; i++) {
                bytes += batch.frameLength(i);
            }
            next += sent;
        }
        return bytes;
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
