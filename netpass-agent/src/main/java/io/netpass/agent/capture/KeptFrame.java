package io.netpass.agent.capture;

import java.lang.foreign.MemorySegment;

/**
 * A view of one kept frame, valid only during the {@link KeptFrames.Reader} call that received it: it points into
 * the buffer, which reuses the memory once the frame is taken.
 */
public final class KeptFrame {

    /** Bytes of the virtio_net_hdr before each frame. */
    public static final int VNET_HEADER_SIZE = 10;

    static final MemorySegment ZERO_VNET_HEADER = MemorySegment.ofArray(new byte[VNET_HEADER_SIZE]);

    long sequence;
    long capturedNanos;
    boolean droppedByTap;
    MemorySegment vnetHeader = ZERO_VNET_HEADER;
    MemorySegment frame = MemorySegment.NULL;

    KeptFrame() {
    }

    /** Position of the frame among all frames handed to the tap since it was armed, from 0. */
    public long sequence() {
        return sequence;
    }

    /** {@link System#nanoTime()} clock value of the moment the kernel handed the frame to the tap. */
    public long capturedNanos() {
        return capturedNanos;
    }

    /** The tap itself dropped this frame because its ring was full: the VM never had a chance to read it. */
    public boolean droppedByTap() {
        return droppedByTap;
    }

    /** The frame's virtio_net_hdr: GSO and checksum-offload metadata. */
    public MemorySegment vnetHeader() {
        return vnetHeader;
    }

    /** The Ethernet frame exactly as the tap would have given it to the VM. */
    public MemorySegment frame() {
        return frame;
    }
}
