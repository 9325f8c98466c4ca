package io.netpass.agent.stream;

import java.util.Arrays;

import org.jspecify.annotations.Nullable;

import io.netpass.agent.capture.KeptFrame;

/**
 * One frame as it arrives on the destination host: its position in the source tap's capture, whether the source
 * tap dropped it, its virtio_net_hdr and the Ethernet frame.
 *
 * <p>The arrays are taken, not copied: whoever builds a {@code ForwardedFrame} hands them over and must not change
 * them afterwards. Equality compares their contents.
 *
 * @param sequence position of the frame among all frames captured on the source tap, from 0
 * @param droppedByTap the source tap dropped the frame because its ring was full
 * @param heldByVmm the source VM read this frame, the last it read: its VMM may hold it undelivered, so it is
 *     injected if the frames that follow it directly are (docs/reconciliation.md)
 * @param vnetHeader the frame's virtio_net_hdr, exactly {@value #VNET_HEADER_SIZE} bytes
 * @param frame the Ethernet frame, {@value #MIN_FRAME_LENGTH} to {@value #MAX_FRAME_LENGTH} bytes
 */
public record ForwardedFrame(long sequence, boolean droppedByTap, boolean heldByVmm, byte[] vnetHeader, byte[] frame)
        implements FrameStreamRecord {

    /** Bytes of the virtio_net_hdr before each frame. */
    public static final int VNET_HEADER_SIZE = KeptFrame.VNET_HEADER_SIZE;

    /**
     * Shortest frame carried: an Ethernet header. A tap's transmit path never carries a shorter one (the kernel
     * refuses to send below an Ethernet device's minimum header length), and a guest's virtio-net driver would
     * discard it as a length error anyway.
     */
    public static final int MIN_FRAME_LENGTH = 14;

    /** Longest frame carried: a 64 KiB GSO frame plus link-layer headers, the most a tap hands over at once. */
    public static final int MAX_FRAME_LENGTH = 65_536 + 64;

    /** A frame the source VM never read. */
    public ForwardedFrame(long sequence, boolean droppedByTap, byte[] vnetHeader, byte[] frame) {
        this(sequence, droppedByTap, false, vnetHeader, frame);
    }

    public ForwardedFrame {
        if (sequence < 0) {
            throw new IllegalArgumentException("sequence " + sequence + " is negative");
        }
        if (vnetHeader.length != VNET_HEADER_SIZE) {
            throw new IllegalArgumentException(
                    "vnet header of " + vnetHeader.length + " bytes, expected " + VNET_HEADER_SIZE);
        }
        if (frame.length < MIN_FRAME_LENGTH || frame.length > MAX_FRAME_LENGTH) {
            throw new IllegalArgumentException("frame of " + frame.length + " bytes, outside ["
                    + MIN_FRAME_LENGTH + ", " + MAX_FRAME_LENGTH + "]");
        }
    }

    @Override
    public boolean equals(@Nullable Object other) {
        return other instanceof ForwardedFrame that
                && sequence == that.sequence
                && droppedByTap == that.droppedByTap
                && heldByVmm == that.heldByVmm
                && Arrays.equals(vnetHeader, that.vnetHeader)
                && Arrays.equals(frame, that.frame);
    }

    @Override
    public int hashCode() {
        int hash = Long.hashCode(sequence);
        hash = 31 * hash + Boolean.hashCode(droppedByTap);
        hash = 31 * hash + Boolean.hashCode(heldByVmm);
        hash = 31 * hash + Arrays.hashCode(vnetHeader);
        return 31 * hash + Arrays.hashCode(frame);
    }

    @Override
    public String toString() {
        return "ForwardedFrame[sequence=" + sequence + ", droppedByTap=" + droppedByTap + ", heldByVmm=" + heldByVmm
                + ", frame=" + frame.length
                + " bytes]";
    }
}
