package io.netpass.agent.linux;

import java.lang.foreign.MemorySegment;

/**
 * One frame in the capture ring, valid only during {@link CaptureRing.FrameHandler#onFrame}: the views point into
 * kernel-shared memory that is handed back to the kernel right after.
 */
public final class CapturedFrame {

    /** Bytes of the virtio_net_hdr before each frame. */
    public static final int VNET_HEADER_SIZE = 10;

    /** The frame was handed to the interface for transmission: for a tap, host to VM. */
    public static final int OUTGOING = 4;

    MemorySegment block = MemorySegment.NULL;
    long vnetHeaderOffset;
    long frameOffset;
    int frameLength;
    int packetType;
    int wireLength;
    long kernelTimeNanos;
    int vlanTag = -1;

    CapturedFrame() {
    }

    /**
     * The virtio_net_hdr (10 bytes) the kernel wrote before the frame: GSO type and size, checksum offsets. A new
     * view each call: the data path uses {@link #copyVnetHeader} and {@link #copyFrame}, which allocate nothing.
     */
    public MemorySegment vnetHeader() {
        return block.asSlice(vnetHeaderOffset, VNET_HEADER_SIZE);
    }

    /** The Ethernet frame as captured, possibly without its VLAN tag (see {@link #vlanTag()}); a new view each call. */
    public MemorySegment frame() {
        return block.asSlice(frameOffset, frameLength);
    }

    /** Captured bytes of the frame. */
    public int frameLength() {
        return frameLength;
    }

    /** Byte {@code index} of the frame. */
    public byte frameByte(long index) {
        return block.get(java.lang.foreign.ValueLayout.JAVA_BYTE, frameOffset + index);
    }

    /** Byte {@code index} of the vnet header. */
    public byte vnetHeaderByte(long index) {
        return block.get(java.lang.foreign.ValueLayout.JAVA_BYTE, vnetHeaderOffset + index);
    }

    /** Copies {@code length} frame bytes from {@code from} into {@code target} at {@code at}. */
    public void copyFrame(long from, MemorySegment target, long at, long length) {
        MemorySegment.copy(block, frameOffset + from, target, at, length);
    }

    /** Copies the vnet header into {@code target} at {@code at}. */
    public void copyVnetHeader(MemorySegment target, long at) {
        MemorySegment.copy(block, vnetHeaderOffset, target, at, VNET_HEADER_SIZE);
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
        return wireLength > frameLength;
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
