package io.netpass.agent.linux;

import java.lang.foreign.MemorySegment;

/**
 * One frame in the capture ring, valid only during {@link CaptureRing.FrameHandler#onFrame}: the views point into
 * kernel-shared memory that is handed back to the kernel right after.
 */
public final class CapturedFrame {

    /** The frame was handed to the interface for transmission: for a tap, host to VM. */
    public static final int OUTGOING = 4;

    MemorySegment vnetHeader = MemorySegment.NULL;
    MemorySegment frame = MemorySegment.NULL;
    int packetType;
    int wireLength;
    long kernelTimeNanos;
    int vlanTag = -1;

    CapturedFrame() {
    }

    /** The virtio_net_hdr (10 bytes) the kernel wrote before the frame: GSO type and size, checksum offsets. */
    public MemorySegment vnetHeader() {
        return vnetHeader;
    }

    /** The Ethernet frame as captured, possibly without its VLAN tag (see {@link #vlanTag()}). */
    public MemorySegment frame() {
        return frame;
    }

    /** {@code sll_pkttype}: {@link #OUTGOING} for frames handed to the interface, others for frames it sent. */
    public int packetType() {
        return packetType;
    }

    public boolean outgoing() {
        return packetType == OUTGOING;
    }

    /** The frame's full length; larger than the captured length only if the ring slot was too small. */
    public int wireLength() {
        return wireLength;
    }

    public boolean truncated() {
        return wireLength > frame.byteSize();
    }

    /** CLOCK_REALTIME of capture, in nanoseconds. */
    public long kernelTimeNanos() {
        return kernelTimeNanos;
    }

    /**
     * The VLAN tag the kernel kept out of band (TPID in the high 16 bits, TCI in the low 16), or -1. The tap puts it
     * back into the frame when the VM reads it, so a copy of the frame must too.
     */
    public int vlanTag() {
        return vlanTag;
    }
}
