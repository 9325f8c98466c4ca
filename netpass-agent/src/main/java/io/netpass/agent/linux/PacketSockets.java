package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** Creation and binding of AF_PACKET sockets, shared by capture and injection. */
final class PacketSockets {

    static final int PACKET_RX_RING = 5;
    static final int PACKET_STATISTICS = 6;
    static final int PACKET_VERSION = 10;
    static final int PACKET_TX_RING = 13;
    static final int PACKET_VNET_HDR = 15;
    static final int PACKET_QDISC_BYPASS = 20;
    static final int TPACKET_V2 = 1;
    static final int TPACKET_V3 = 2;
    static final int SOCKADDR_LL_SIZE = 20;

    private PacketSockets() {
    }

    /** A raw packet socket in {@code namespace} that receives nothing until it is bound with a protocol. */
    static int open(NetworkNamespace namespace, String subject) {
        return namespace.call(() -> {
            int fd = Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw NativeCallException.lastError("socket AF_PACKET", subject);
            }
            return fd;
        });
    }

    /**
     * A packet socket for writing frames that start with their virtio_net_hdr, not yet bound; with
     * {@code bypassQdisc} the frames skip the interface's qdisc.
     */
    static int openForInjection(NetworkNamespace namespace, String subject, boolean bypassQdisc) {
        int fd = open(namespace, subject);
        try {
            Sockets.setInt(fd, Libc.SOL_PACKET, PACKET_VNET_HDR, 1, "setsockopt PACKET_VNET_HDR", subject);
            if (bypassQdisc) {
                Sockets.setInt(fd, Libc.SOL_PACKET, PACKET_QDISC_BYPASS, 1, "setsockopt PACKET_QDISC_BYPASS", subject);
            }
            return fd;
        } catch (RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
    }

    /** Binds to one interface; {@code protocol} 0 sends only, {@link Libc#ETH_P_ALL} also receives. */
    static void bind(int fd, int ifindex, int protocol, String subject) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = arena.allocate(SOCKADDR_LL_SIZE, 4);
            address.set(JAVA_SHORT, 0, (short) Libc.AF_PACKET);
            address.set(JAVA_SHORT, 2, Libc.htons(protocol));
            address.set(JAVA_INT, 4, ifindex);
            Sockets.check(Libc.bind(fd, address), "bind", subject);
        }
    }

    static void closeQuietly(int fd) {
        if (fd >= 0) {
            Libc.close(fd);
        }
    }
}
