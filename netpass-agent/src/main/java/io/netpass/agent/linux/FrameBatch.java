package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Frames gathered for one {@code sendmmsg} call: each a virtio_net_hdr followed by the Ethernet frame, copied into
 * one off-heap area. Reused: {@link #clear()} after each send.
 */
public final class FrameBatch implements AutoCloseable {

    static final int MMSGHDR_SIZE = 64;
    private static final int IOVEC_SIZE = 16;
    private static final int VNET_HEADER_SIZE = InjectionSocket.VNET_HEADER_SIZE;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment data;
    private final MemorySegment iovecs;
    private final MemorySegment messages;
    private final long[] sequences;
    private final long[] offsets;
    private final int maxFrames;
    private int frames;
    private long used;

    /** A batch of at most {@code maxFrames} frames and {@code capacity} bytes of headers and frames. */
    public FrameBatch(int maxFrames, long capacity) {
        this.maxFrames = maxFrames;
        this.data = arena.allocate(capacity, 8);
        this.iovecs = arena.allocate((long) IOVEC_SIZE * maxFrames, 8);
        this.messages = arena.allocate((long) MMSGHDR_SIZE * maxFrames, 8);
        this.sequences = new long[maxFrames];
        this.offsets = new long[maxFrames];
    }

    /**
     * Adds a frame unless the batch is full.
     *
     * @param sequence the caller's number for the frame, reported back with a failure
     * @return false if the frame does not fit; the batch is then to be sent first
     */
    public boolean add(long sequence, MemorySegment vnetHeader, MemorySegment frame) {
        long length = VNET_HEADER_SIZE + frame.byteSize();
        if (frames == maxFrames || used + length > data.byteSize()) {
            return false;
        }
        MemorySegment.copy(vnetHeader, 0, data, used, VNET_HEADER_SIZE);
        MemorySegment.copy(frame, 0, data, used + VNET_HEADER_SIZE, frame.byteSize());
        MemorySegment iovec = iovecs.asSlice((long) IOVEC_SIZE * frames, IOVEC_SIZE);
        iovec.set(ADDRESS, 0, data.asSlice(used, length));
        iovec.set(JAVA_LONG, 8, length);
        MemorySegment message = messages.asSlice((long) MMSGHDR_SIZE * frames, MMSGHDR_SIZE);
        message.fill((byte) 0);
        message.set(ADDRESS, 16, iovec);
        message.set(JAVA_LONG, 24, 1L);
        sequences[frames] = sequence;
        offsets[frames] = used;
        frames++;
        used += (length + 7) & ~7L;
        return true;
    }

    public int size() {
        return frames;
    }

    public boolean isEmpty() {
        return frames == 0;
    }

    /** Frame bytes of entry {@code index}, vnet header excluded. */
    long frameLength(int index) {
        return entryLength(index) - VNET_HEADER_SIZE;
    }

    /** Vnet header and frame bytes of entry {@code index}. */
    long entryLength(int index) {
        return iovecs.get(JAVA_LONG, (long) IOVEC_SIZE * index + 8);
    }

    /** Copies the vnet header and frame of entry {@code index} to {@code target} at {@code offset}. */
    void copyEntry(int index, MemorySegment target, long offset) {
        MemorySegment.copy(data, offsets[index], target, offset, entryLength(index));
    }

    /** The virtio_net_hdr's gso_type of entry {@code index}. */
    int gsoType(int index) {
        return data.get(JAVA_BYTE, offsets[index] + 1);
    }

    long sequence(int index) {
        return sequences[index];
    }

    MemorySegment messagesFrom(int index) {
        return messages.asSlice((long) MMSGHDR_SIZE * index);
    }

    public void clear() {
        frames = 0;
        used = 0;
    }

    @Override
    public void close() {
        arena.close();
    }
}
