package io.netpass.agent.testing;

import java.util.ArrayList;
import java.util.List;

/**
 * Numbered UDP/IPv4 frames from a client to a VM (198.18.0.1 to 198.18.0.2): the payload starts with an 8-byte
 * big-endian sequence number, so a test can tell which frames arrived, which were lost and in what order. The rest
 * of the payload is a pattern derived from the number, so a frame copied at the wrong offset does not compare equal.
 */
public final class SequencedTraffic {

    /** The UDP source port of every sequenced frame. */
    public static final int SOURCE_PORT = 40_000;
    /** The UDP destination port of every sequenced frame; {@link #sequenceOf} recognises frames by both ports. */
    public static final int DESTINATION_PORT = 7_000;
    /** The smallest frame that holds the headers and the sequence number. */
    public static final int MIN_FRAME_SIZE = Headers.ETHERNET + Headers.IPV4 + 8 + Long.BYTES;
    /** Frame size used unless one is chosen. */
    public static final int DEFAULT_FRAME_SIZE = 128;

    private static final int UDP_OFFSET = Headers.ETHERNET + Headers.IPV4;
    private static final int PAYLOAD_OFFSET = UDP_OFFSET + 8;

    private final EthernetAddress client;
    private final EthernetAddress vm;
    private final int frameSize;

    /** Frames of {@link #DEFAULT_FRAME_SIZE} bytes from {@code client} to {@code vm}. */
    public SequencedTraffic(EthernetAddress client, EthernetAddress vm) {
        this(client, vm, DEFAULT_FRAME_SIZE);
    }

    /** Frames of {@code frameSize} bytes (Ethernet header included, no FCS) from {@code client} to {@code vm}. */
    public SequencedTraffic(EthernetAddress client, EthernetAddress vm, int frameSize) {
        if (frameSize < MIN_FRAME_SIZE || frameSize > Headers.ETHERNET + 0xffff) {
            throw new IllegalArgumentException("frame size " + frameSize + " outside " + MIN_FRAME_SIZE + "..65549");
        }
        this.client = client;
        this.vm = vm;
        this.frameSize = frameSize;
    }

    public EthernetAddress client() {
        return client;
    }

    public EthernetAddress vm() {
        return vm;
    }

    public int frameSize() {
        return frameSize;
    }

    /** The frame numbered {@code sequence}. */
    public byte[] frame(long sequence) {
        if (sequence < 0) {
            throw new IllegalArgumentException("negative sequence " + sequence);
        }
        byte[] frame = new byte[frameSize];
        Headers.writeEthernet(frame, vm, client, Headers.ETHERTYPE_IPV4);
        Headers.writeIpv4(frame, Headers.PROTOCOL_UDP, frameSize - Headers.ETHERNET, (int) sequence, false);
        Headers.putShort(frame, UDP_OFFSET, SOURCE_PORT);
        Headers.putShort(frame, UDP_OFFSET + 2, DESTINATION_PORT);
        Headers.putShort(frame, UDP_OFFSET + 4, frameSize - UDP_OFFSET);
        // UDP checksum 0: "not computed", which IPv4 receivers accept.
        Headers.putShort(frame, UDP_OFFSET + 6, 0);
        for (int i = 0; i < Long.BYTES; i++) {
            frame[PAYLOAD_OFFSET + i] = (byte) (sequence >>> (8 * (Long.BYTES - 1 - i)));
        }
        for (int at = PAYLOAD_OFFSET + Long.BYTES; at < frameSize; at++) {
            frame[at] = (byte) (sequence + at);
        }
        return frame;
    }

    /** Frames {@code first}, {@code first + 1}, ... ({@code count} of them). */
    public List<byte[]> frames(long first, int count) {
        List<byte[]> frames = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            frames.add(frame(first + i));
        }
        return frames;
    }

    /**
     * The sequence number of the frame that starts at {@code offset} of {@code bytes} (e.g. after a vnet header),
     * or -1 if it is not a sequenced frame.
     */
    public static long sequenceOf(byte[] bytes, int offset) {
        if (offset < 0 || bytes.length - offset < MIN_FRAME_SIZE
                || Headers.getShort(bytes, offset + 12) != Headers.ETHERTYPE_IPV4
                || bytes[offset + Headers.ETHERNET] != 0x45
                || bytes[offset + Headers.ETHERNET + 9] != Headers.PROTOCOL_UDP
                || Headers.getShort(bytes, offset + UDP_OFFSET) != SOURCE_PORT
                || Headers.getShort(bytes, offset + UDP_OFFSET + 2) != DESTINATION_PORT) {
            return -1;
        }
        long sequence = 0;
        for (int i = 0; i < Long.BYTES; i++) {
            sequence = (sequence << 8) | (bytes[offset + PAYLOAD_OFFSET + i] & 0xff);
        }
        return sequence < 0 ? -1 : sequence;
    }
}
