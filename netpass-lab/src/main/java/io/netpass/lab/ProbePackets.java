package io.netpass.lab;

import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.nio.ByteBuffer;
import java.util.HexFormat;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The bytes of probes and of the guest's replies. Every probe carries a per-run token and its 64-bit sequence number
 * in its payload; both kinds of reply bring the payload back (an echo reply copies it, a port-unreachable error quotes
 * the UDP datagram it answers), so a reply names the probe it answers and cannot be mistaken for one of another run.
 */
final class ProbePackets {

    /** The UDP port probes go to: traceroute's first port, closed in the guest (nothing listens there). */
    static final int CLOSED_PORT = 33434;
    /** Token and sequence number, padded to ping's usual 56 payload bytes. */
    static final int PAYLOAD_LENGTH = 56;
    static final int NO_PROBE = -1;

    private static final int ETHERNET_HEADER = 14;
    private static final int IPV4_HEADER = 20;
    private static final int ICMP_HEADER = 8;
    private static final int UDP_HEADER = 8;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int PROTOCOL_ICMP = 1;
    private static final int PROTOCOL_UDP = 17;
    private static final int ICMP_ECHO_REPLY = 0;
    private static final int ICMP_DESTINATION_UNREACHABLE = 3;
    private static final int ICMP_PORT_UNREACHABLE = 3;
    private static final int ICMP_ECHO_REQUEST = 8;
    /** Enough for Ethernet, the ICMP error's IP header with options, the quoted headers and the token and sequence. */
    private static final int PARSE_LIMIT = 256;

    /** Length of an ICMP echo request frame, Ethernet header included. */
    static final int ECHO_FRAME_LENGTH = ETHERNET_HEADER + IPV4_HEADER + ICMP_HEADER + PAYLOAD_LENGTH;

    private final byte[] clientMac;
    private final byte[] guestMac;
    private final byte[] clientAddress;
    private final byte[] guestAddress;
    private final long token;
    private final int identifier;
    private final byte[] parseBuffer = new byte[PARSE_LIMIT];

    ProbePackets(ProbeTarget target, long token, int identifier) {
        this.clientMac = mac(target.clientMac());
        this.guestMac = mac(target.guestMac());
        this.clientAddress = target.clientAddress().getAddress();
        this.guestAddress = target.guestAddress().getAddress();
        this.token = token;
        this.identifier = identifier & 0xffff;
    }

    /** The UDP payload of probe {@code sequence}. */
    void udpPayload(long sequence, ByteBuffer into) {
        into.clear();
        into.putLong(token).putLong(sequence);
        while (into.position() < PAYLOAD_LENGTH) {
            into.put((byte) 0);
        }
        into.flip();
    }

    /** Writes the Ethernet frame of ICMP echo request {@code sequence} into {@code into} at {@code offset}. */
    void echoRequest(long sequence, ByteBuffer into, int offset) {
        ByteBuffer frame = into.duplicate().position(offset).slice();
        frame.put(guestMac).put(clientMac).putShort((short) ETHERTYPE_IPV4);
        int ip = frame.position();
        frame.put((byte) 0x45).put((byte) 0).putShort((short) (IPV4_HEADER + ICMP_HEADER + PAYLOAD_LENGTH))
                .putShort((short) sequence).putShort((short) 0x4000).put((byte) 64).put((byte) PROTOCOL_ICMP)
                .putShort((short) 0).put(clientAddress).put(guestAddress);
        frame.putShort(ip + 10, checksum(frame, ip, IPV4_HEADER));
        int icmp = frame.position();
        frame.put((byte) ICMP_ECHO_REQUEST).put((byte) 0).putShort((short) 0)
                .putShort((short) identifier).putShort((short) sequence);
        frame.putLong(token).putLong(sequence);
        while (frame.position() < ECHO_FRAME_LENGTH) {
            frame.put((byte) 0);
        }
        frame.putShort(icmp + 2, checksum(frame, icmp, ICMP_HEADER + PAYLOAD_LENGTH));
    }

    /** The sequence number of the probe {@code frame} answers, or {@link #NO_PROBE} if it is no reply to this run. */
    long answeredSequence(MemorySegment frame, MigrationProbe.Kind kind) {
        int length = (int) Math.min(frame.byteSize(), PARSE_LIMIT);
        MemorySegment.copy(frame, JAVA_BYTE, 0, parseBuffer, 0, length);
        ByteBuffer bytes = ByteBuffer.wrap(parseBuffer, 0, length);
        if (length < ETHERNET_HEADER + IPV4_HEADER + ICMP_HEADER
                || Short.toUnsignedInt(bytes.getShort(12)) != ETHERTYPE_IPV4) {
            return NO_PROBE;
        }
        int ip = ETHERNET_HEADER;
        int ipHeader = (bytes.get(ip) & 0x0f) * 4;
        if (bytes.get(ip + 9) != PROTOCOL_ICMP || !matches(bytes, ip + 12, guestAddress)
                || !matches(bytes, ip + 16, clientAddress)) {
            return NO_PROBE;
        }
        int icmp = ip + ipHeader;
        if (icmp + ICMP_HEADER > length) {
            return NO_PROBE;
        }
        int type = Byte.toUnsignedInt(bytes.get(icmp));
        int code = Byte.toUnsignedInt(bytes.get(icmp + 1));
        int payload;
        if (kind == MigrationProbe.Kind.ICMP_ECHO && type == ICMP_ECHO_REPLY) {
            if (Short.toUnsignedInt(bytes.getShort(icmp + 4)) != identifier) {
                return NO_PROBE;
            }
            payload = icmp + ICMP_HEADER;
        } else if (kind == MigrationProbe.Kind.UDP_PORT_UNREACHABLE && type == ICMP_DESTINATION_UNREACHABLE
                && code == ICMP_PORT_UNREACHABLE) {
            int quoted = icmp + ICMP_HEADER;
            if (quoted + IPV4_HEADER > length || bytes.get(quoted + 9) != PROTOCOL_UDP) {
                return NO_PROBE;
            }
            int udp = quoted + (bytes.get(quoted) & 0x0f) * 4;
            if (udp + UDP_HEADER > length || Short.toUnsignedInt(bytes.getShort(udp + 2)) != CLOSED_PORT) {
                return NO_PROBE;
            }
            payload = udp + UDP_HEADER;
        } else {
            return NO_PROBE;
        }
        if (payload + 16 > length || bytes.getLong(payload) != token) {
            return NO_PROBE;
        }
        return bytes.getLong(payload + 8);
    }

    private static boolean matches(ByteBuffer bytes, int offset, byte[] expected) {
        for (int i = 0; i < expected.length; i++) {
            if (bytes.get(offset + i) != expected[i]) {
                return false;
            }
        }
        return true;
    }

    /** The Internet checksum (RFC 1071) of {@code length} bytes at {@code offset}. */
    static short checksum(ByteBuffer bytes, int offset, int length) {
        long sum = 0;
        for (int i = 0; i + 1 < length; i += 2) {
            sum += Short.toUnsignedInt(bytes.getShort(offset + i));
        }
        if ((length & 1) != 0) {
            sum += Byte.toUnsignedInt(bytes.get(offset + length - 1)) << 8;
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (short) ~sum;
    }

    static byte[] mac(String mac) {
        return HexFormat.ofDelimiter(":").parseHex(mac);
    }

    static Inet4Address ipv4(String address) {
        try {
            return (Inet4Address) Inet4Address.getByName(address);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(address, e);
        }
    }
}
