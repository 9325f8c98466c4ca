package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * The interfaces of one network namespace, read over an rtnetlink socket that was opened inside it, so a tap's
 * counters can be polled from any thread without entering the namespace again ({@code /sys/class/net} would
 * show the agent's own namespace instead).
 */
public final class NetworkLinks implements AutoCloseable {

    private static final int NLMSG_HEADER = 16;
    private static final int IFINFOMSG = 16;
    private static final short RTM_NEWLINK = 16;
    private static final short RTM_GETLINK = 18;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 1;
    private static final short IFLA_IFNAME = 3;
    private static final short IFLA_MTU = 4;
    private static final short IFLA_TXQLEN = 13;
    private static final short IFLA_LINKINFO = 18;
    private static final short IFLA_STATS64 = 23;
    private static final short IFLA_INFO_KIND = 1;
    private static final short IFLA_INFO_DATA = 2;
    private static final short IFLA_TUN_TYPE = 3;
    private static final int IFF_TAP = 2;
    private static final short NLA_TYPE_MASK = 0x3fff;
    private static final long SIOCSIFTXQLEN = 0x8943;
    private static final int IFNAMSIZ = 16;
    private static final int REPLY_CAPACITY = 64 * 1024;

    private final NetworkNamespace namespace;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment request;
    private final MemorySegment reply;
    private int sequence;

    private NetworkLinks(NetworkNamespace namespace, int fd) {
        this.namespace = namespace;
        this.fd = fd;
        this.request = arena.allocate(NLMSG_HEADER + IFINFOMSG + 64, 8);
        this.reply = arena.allocate(REPLY_CAPACITY, 8);
    }

    /** Opens an rtnetlink socket inside {@code namespace}. */
    public static NetworkLinks open(NetworkNamespace namespace) {
        int fd = namespace.call(() -> {
            int socket = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.NETLINK_ROUTE);
            if (socket < 0) {
                throw NativeCallException.lastError("socket", "NETLINK_ROUTE in " + namespace);
            }
            return socket;
        });
        Sockets.setReceiveTimeout(fd, 2_000, "NETLINK_ROUTE in " + namespace);
        return new NetworkLinks(namespace, fd);
    }

    public NetworkNamespace namespace() {
        return namespace;
    }

    /**
     * The interface called {@code name}.
     *
     * @throws InterfaceNotFoundException if there is none
     */
    public synchronized Link byName(String name) {
        if (name.isEmpty() || name.length() >= IFNAMSIZ || name.contains("/") || name.contains("\0")) {
            throw new InterfaceNotFoundException(name, namespace);
        }
        return query(0, name);
    }

    /**
     * The interface with {@code index}.
     *
     * @throws InterfaceNotFoundException if there is none (any more)
     */
    public synchronized Link byIndex(int index) {
        return query(index, null);
    }

    /** Sets an interface's transmit queue length; for a tap this resizes its frame ring. */
    public synchronized void setTxQueueLength(String name, int length) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment ifreq = call.allocate(40);
            byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(bytes, 0, ifreq, JAVA_BYTE, 0, Math.min(bytes.length, IFNAMSIZ - 1));
            ifreq.set(JAVA_INT_UNALIGNED, IFNAMSIZ, length);
            if (Libc.ioctl(fd, SIOCSIFTXQLEN, ifreq) < 0) {
                throw NativeCallException.lastError("ioctl SIOCSIFTXQLEN", name);
            }
        }
    }

    private Link query(int index, String name) {
        int seq = ++sequence;
        request.fill((byte) 0);
        int length = NLMSG_HEADER + IFINFOMSG;
        if (name != null) {
            byte[] bytes = (name + "\0").getBytes(StandardCharsets.US_ASCII);
            request.set(JAVA_SHORT_UNALIGNED, length, (short) (4 + bytes.length));
            request.set(JAVA_SHORT_UNALIGNED, length + 2, IFLA_IFNAME);
            MemorySegment.copy(bytes, 0, request, JAVA_BYTE, length + 4, bytes.length);
            length += align(4 + bytes.length);
        }
        request.set(JAVA_INT_UNALIGNED, 0, length);
        request.set(JAVA_SHORT_UNALIGNED, 4, RTM_GETLINK);
        request.set(JAVA_SHORT_UNALIGNED, 6, NLM_F_REQUEST);
        request.set(JAVA_INT_UNALIGNED, 8, seq);
        request.set(JAVA_INT_UNALIGNED, NLMSG_HEADER + 4, index);
        String subject = name != null ? name : "ifindex " + index;
        if (Libc.send(fd, request, length, 0) < 0) {
            throw NativeCallException.lastError("send RTM_GETLINK", subject);
        }
        while (true) {
            long received = Libc.recv(fd, reply, REPLY_CAPACITY, 0);
            if (received < 0) {
                throw NativeCallException.lastError("recv RTM_GETLINK", subject);
            }
            int offset = 0;
            while (offset + NLMSG_HEADER <= received) {
                int messageLength = reply.get(JAVA_INT_UNALIGNED, offset);
                short type = reply.get(JAVA_SHORT_UNALIGNED, offset + 4);
                int messageSeq = reply.get(JAVA_INT_UNALIGNED, offset + 8);
                if (messageLength < NLMSG_HEADER) {
                    break;
                }
                if (messageSeq == seq) {
                    if (type == NLMSG_ERROR) {
                        int errno = -reply.get(JAVA_INT_UNALIGNED, offset + NLMSG_HEADER);
                        if (errno == Libc.ENODEV) {
                            throw new InterfaceNotFoundException(subject, namespace);
                        }
                        throw new NativeCallException("RTM_GETLINK", subject, errno);
                    }
                    if (type == RTM_NEWLINK) {
                        return parse(offset, messageLength);
                    }
                }
                offset += align(messageLength);
            }
        }
    }

    private Link parse(int message, int messageLength) {
        int index = reply.get(JAVA_INT_UNALIGNED, message + NLMSG_HEADER + 4);
        String name = "";
        String kind = "";
        boolean tapMode = false;
        int txQueueLength = 0;
        int mtu = 0;
        TapCounters counters = new TapCounters(0, 0, 0);
        int end = message + messageLength;
        for (int at = message + NLMSG_HEADER + IFINFOMSG; at + 4 <= end; ) {
            int attrLength = Short.toUnsignedInt(reply.get(JAVA_SHORT_UNALIGNED, at));
            int type = reply.get(JAVA_SHORT_UNALIGNED, at + 2) & NLA_TYPE_MASK;
            if (attrLength < 4) {
                break;
            }
            int value = at + 4;
            switch (type) {
                case IFLA_IFNAME -> name = string(value, attrLength - 4);
                case IFLA_TXQLEN -> txQueueLength = reply.get(JAVA_INT_UNALIGNED, value);
                case IFLA_MTU -> mtu = reply.get(JAVA_INT_UNALIGNED, value);
                case IFLA_STATS64 -> counters = new TapCounters(
                        reply.get(JAVA_LONG_UNALIGNED, value + 8),
                        reply.get(JAVA_LONG_UNALIGNED, value + 24),
                        reply.get(JAVA_LONG_UNALIGNED, value + 56));
                case IFLA_LINKINFO -> {
                    for (int info = value; info + 4 <= at + attrLength; ) {
                        int infoLength = Short.toUnsignedInt(reply.get(JAVA_SHORT_UNALIGNED, info));
                        int infoType = reply.get(JAVA_SHORT_UNALIGNED, info + 2) & NLA_TYPE_MASK;
                        if (infoLength < 4) {
                            break;
                        }
                        if (infoType == IFLA_INFO_KIND) {
                            kind = string(info + 4, infoLength - 4);
                        } else if (infoType == IFLA_INFO_DATA) {
                            tapMode = tunTypeIsTap(info + 4, info + infoLength);
                        }
                        info += align(infoLength);
                    }
                }
                default -> {
                }
            }
            at += align(attrLength);
        }
        return new Link(index, name, kind, "tun".equals(kind) && tapMode, txQueueLength, mtu, counters);
    }

    private boolean tunTypeIsTap(int from, int to) {
        for (int at = from; at + 4 <= to; ) {
            int length = Short.toUnsignedInt(reply.get(JAVA_SHORT_UNALIGNED, at));
            int type = reply.get(JAVA_SHORT_UNALIGNED, at + 2) & NLA_TYPE_MASK;
            if (length < 4) {
                break;
            }
            if (type == IFLA_TUN_TYPE) {
                return reply.get(JAVA_BYTE, at + 4) == IFF_TAP;
            }
            at += align(length);
        }
        return false;
    }

    private String string(int offset, int maxLength) {
        int length = 0;
        while (length < maxLength && reply.get(JAVA_BYTE, offset + length) != 0) {
            length++;
        }
        byte[] bytes = new byte[length];
        MemorySegment.copy(reply, JAVA_BYTE, offset, bytes, 0, length);
        return new String(bytes, StandardCharsets.US_ASCII);
    }

    private static int align(int length) {
        return (length + 3) & ~3;
    }

    @Override
    public synchronized void close() {
        Libc.close(fd);
        arena.close();
    }
}
