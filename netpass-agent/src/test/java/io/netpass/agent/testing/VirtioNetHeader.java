package io.netpass.agent.testing;

/**
 * The 10-byte {@code struct virtio_net_hdr} (little endian, as taps and packet sockets use it on x86) that travels
 * before a frame through PACKET_VNET_HDR sockets and IFF_VNET_HDR taps.
 *
 * @param flags {@link #F_NEEDS_CSUM}, {@link #F_DATA_VALID}
 * @param gsoType {@link #GSO_NONE}, {@link #GSO_TCPV4}, ...
 * @param headerLength {@code hdr_len}: bytes of headers before the segmented payload
 * @param gsoSize payload bytes per segment
 * @param checksumStart where the checksum computation starts, from the Ethernet header
 * @param checksumOffset where in the transport header the checksum goes, from {@code checksumStart}
 */
public record VirtioNetHeader(int flags, int gsoType, int headerLength, int gsoSize, int checksumStart,
        int checksumOffset) {

    public static final int SIZE = 10;
    public static final int F_NEEDS_CSUM = 1;
    public static final int F_DATA_VALID = 2;
    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;

    /** The all-zero header: no offload, no checksum work left. */
    public static final VirtioNetHeader NONE = new VirtioNetHeader(0, GSO_NONE, 0, 0, 0, 0);

    public static VirtioNetHeader parse(byte[] bytes, int offset) {
        return new VirtioNetHeader(bytes[offset] & 0xff, bytes[offset + 1] & 0xff,
                littleEndianShort(bytes, offset + 2), littleEndianShort(bytes, offset + 4),
                littleEndianShort(bytes, offset + 6), littleEndianShort(bytes, offset + 8));
    }

    public byte[] toBytes() {
        byte[] bytes = new byte[SIZE];
        bytes[0] = (byte) flags;
        bytes[1] = (byte) gsoType;
        putLittleEndianShort(bytes, 2, headerLength);
        putLittleEndianShort(bytes, 4, gsoSize);
        putLittleEndianShort(bytes, 6, checksumStart);
        putLittleEndianShort(bytes, 8, checksumOffset);
        return bytes;
    }

    private static int littleEndianShort(byte[] bytes, int offset) {
        return (bytes[offset] & 0xff) | ((bytes[offset + 1] & 0xff) << 8);
    }

    private static void putLittleEndianShort(byte[] bytes, int offset, int value) {
        bytes[offset] = (byte) value;
        bytes[offset + 1] = (byte) (value >>> 8);
    }
}
