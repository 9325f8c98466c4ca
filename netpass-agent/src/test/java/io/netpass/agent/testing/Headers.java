package io.netpass.agent.testing;

/** Ethernet and IPv4 header layout shared by the frame builders of this package. */
final class Headers {

    static final int ETHERNET = 14;
    static final int IPV4 = 20;
    static final int ETHERTYPE_IPV4 = 0x0800;
    static final int ETHERTYPE_RARP = 0x8035;
    static final int PROTOCOL_TCP = 6;
    static final int PROTOCOL_UDP = 17;
    /** 198.18.0.1, the client end of lab traffic (198.18.0.0/15 is reserved for such tests). */
    static final int CLIENT_ADDRESS = 0xc612_0001;
    /** 198.18.0.2, the VM end of lab traffic. */
    static final int VM_ADDRESS = 0xc612_0002;

    private Headers() {
    }

    static void writeEthernet(byte[] frame, EthernetAddress destination, EthernetAddress source, int etherType) {
        destination.writeTo(frame, 0);
        source.writeTo(frame, 6);
        putShort(frame, 12, etherType);
    }

    /** An option-less IPv4 header at {@link #ETHERNET} with a valid header checksum. */
    static void writeIpv4(byte[] frame, int protocol, int totalLength, int identification, boolean dontFragment) {
        int at = ETHERNET;
        frame[at] = 0x45;
        frame[at + 1] = 0;
        putShort(frame, at + 2, totalLength);
        putShort(frame, at + 4, identification);
        putShort(frame, at + 6, dontFragment ? 0x4000 : 0);
        frame[at + 8] = 64;
        frame[at + 9] = (byte) protocol;
        putShort(frame, at + 10, 0);
        putInt(frame, at + 12, CLIENT_ADDRESS);
        putInt(frame, at + 16, VM_ADDRESS);
        putShort(frame, at + 10, ~onesComplementSum(frame, at, IPV4, 0) & 0xffff);
    }

    /** The folded 16-bit one's complement sum of {@code length} bytes, added to {@code initial}. */
    static int onesComplementSum(byte[] bytes, int offset, int length, int initial) {
        long sum = initial;
        for (int i = 0; i + 1 < length; i += 2) {
            sum += ((bytes[offset + i] & 0xff) << 8) | (bytes[offset + i + 1] & 0xff);
        }
        if ((length & 1) != 0) {
            sum += (bytes[offset + length - 1] & 0xff) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
    }

    static void putShort(byte[] bytes, int offset, int value) {
        bytes[offset] = (byte) (value >>> 8);
        bytes[offset + 1] = (byte) value;
    }

    static void putInt(byte[] bytes, int offset, int value) {
        putShort(bytes, offset, value >>> 16);
        putShort(bytes, offset + 2, value);
    }

    static int getShort(byte[] bytes, int offset) {
        return ((bytes[offset] & 0xff) << 8) | (bytes[offset + 1] & 0xff);
    }
}
