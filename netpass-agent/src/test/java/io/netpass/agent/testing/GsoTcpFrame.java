package io.netpass.agent.testing;

import java.util.Arrays;

/**
 * One TCP/IPv4 frame far larger than the MTU, with the virtio_net_hdr a guest's TSO gives it (GSO TCPV4, checksum
 * left to the device): the kind of frame a tap with offloads carries, which must survive capture and injection
 * whole.
 */
public final class GsoTcpFrame {

    /** TCP payload bytes per segment, as for a 1500-byte MTU with timestamps. */
    public static final int GSO_SIZE = 1448;
    /** Ethernet, IPv4 and TCP headers, none with options. */
    public static final int HEADERS = Headers.ETHERNET + Headers.IPV4 + 20;
    public static final int SOURCE_PORT = 40_001;
    public static final int DESTINATION_PORT = 7_001;

    private static final int TCP_OFFSET = Headers.ETHERNET + Headers.IPV4;
    private static final int TCP_CHECKSUM_OFFSET = 16;
    private static final int MAX_PAYLOAD = 0xffff - Headers.IPV4 - 20;

    private final VirtioNetHeader header;
    private final byte[] frame;

    private GsoTcpFrame(VirtioNetHeader header, byte[] frame) {
        this.header = header;
        this.frame = frame;
    }

    /**
     * A frame from {@code source} to {@code destination} carrying {@code payloadSize} bytes (more than one segment,
     * else the kernel refuses the GSO header) with TCP sequence number {@code sequence}.
     */
    public static GsoTcpFrame of(EthernetAddress source, EthernetAddress destination, int payloadSize, long sequence) {
        if (payloadSize <= GSO_SIZE || payloadSize > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload " + payloadSize + " outside " + (GSO_SIZE + 1) + ".."
                    + MAX_PAYLOAD);
        }
        byte[] frame = new byte[HEADERS + payloadSize];
        Headers.writeEthernet(frame, destination, source, Headers.ETHERTYPE_IPV4);
        int tcpLength = 20 + payloadSize;
        Headers.writeIpv4(frame, Headers.PROTOCOL_TCP, Headers.IPV4 + tcpLength, (int) sequence, true);
        Headers.putShort(frame, TCP_OFFSET, SOURCE_PORT);
        Headers.putShort(frame, TCP_OFFSET + 2, DESTINATION_PORT);
        Headers.putInt(frame, TCP_OFFSET + 4, (int) sequence);
        Headers.putInt(frame, TCP_OFFSET + 8, 1);
        frame[TCP_OFFSET + 12] = 5 << 4;
        frame[TCP_OFFSET + 13] = 0x18;
        Headers.putShort(frame, TCP_OFFSET + 14, 0xffff);
        for (int at = HEADERS; at < frame.length; at++) {
            frame[at] = (byte) (sequence + at);
        }
        // With the checksum left to the device (CHECKSUM_PARTIAL) the field holds the pseudo-header sum,
        // uncomplemented, as Linux's own TCP stack leaves it.
        int pseudoHeader = Headers.onesComplementSum(frame, Headers.ETHERNET + 12, 8, Headers.PROTOCOL_TCP + tcpLength);
        Headers.putShort(frame, TCP_OFFSET + TCP_CHECKSUM_OFFSET, pseudoHeader);
        VirtioNetHeader header = new VirtioNetHeader(VirtioNetHeader.F_NEEDS_CSUM, VirtioNetHeader.GSO_TCPV4, HEADERS,
                GSO_SIZE, TCP_OFFSET, TCP_CHECKSUM_OFFSET);
        return new GsoTcpFrame(header, frame);
    }

    public VirtioNetHeader header() {
        return header;
    }

    /** The Ethernet frame, without the virtio_net_hdr. */
    public byte[] frame() {
        return frame.clone();
    }

    /** The virtio_net_hdr followed by the frame, as a PACKET_VNET_HDR socket sends it. */
    public byte[] segment() {
        byte[] segment = Arrays.copyOf(header.toBytes(), VirtioNetHeader.SIZE + frame.length);
        System.arraycopy(frame, 0, segment, VirtioNetHeader.SIZE, frame.length);
        return segment;
    }

    public int length() {
        return frame.length;
    }
}
