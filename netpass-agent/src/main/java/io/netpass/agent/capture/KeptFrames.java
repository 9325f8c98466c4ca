package io.netpass.agent.capture;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.netpass.agent.linux.CapturedFrame;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * The frames handed to one tap that the VM has not (yet) read, in the tap's order, in one off-heap ring of a fixed
 * byte capacity. Not thread-safe: its {@link CaptureSession} guards it.
 *
 * <p>Entries run from {@code head} (oldest) to {@code tail}. Those before {@code classified} have been matched
 * against a sample of the tap's counters: each is either queued in the tap's FIFO ring or dropped by the tap.
 * Queued entries leave from the head as the tap's read counter passes them.
 *
 * <p>Layout of an entry, 8-byte aligned: {@code int storedLength} (-1 marks a wrap to offset 0), {@code int flags},
 * {@code long sequence}, {@code long capturedNanos}, the vnet header if it is not all zero, the frame.
 */
final class KeptFrames implements AutoCloseable {

    static final int ENTRY_HEADER = 24;
    private static final int WRAP = -1;
    private static final int HAS_VNET_HEADER = 1;
    private static final int DROPPED_BY_TAP = 2;
    private static final int NOT_STORED = 4;
    private static final int VLAN_TAG_LENGTH = 4;
    private static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ring;
    private final long capacity;
    private final long placeholderReserve;
    private final KeptFrame view = new KeptFrame();
    private long head;
    private long classified;
    private long tail;
    private int entries;
    private int unclassifiedEntries;
    private long frameBytes;
    private long sequenceBase;
    private long lastAppended = -1;

    /**
     * @param capacity bytes of the ring, frames and their entry headers together
     * @param placeholderReserve bytes only placeholders may use, so that frames refused for lack of room are still
     *     counted in the tap's order
     */
    KeptFrames(long capacity, long placeholderReserve) {
        this.capacity = align(capacity);
        this.placeholderReserve = placeholderReserve;
        this.ring = arena.allocate(this.capacity, 8);
    }

    /** Outcome of {@link #append}. */
    enum Appended { STORED, PLACEHOLDER, REFUSED }

    /**
     * Appends a captured frame. When the frame does not fit, a header-only placeholder keeps its place in the tap's
     * order; when not even that fits, nothing is appended.
     */
    Appended append(long sequence, long capturedNanos, CapturedFrame captured) {
        MemorySegment vnet = captured.vnetHeader();
        MemorySegment frame = captured.frame();
        int vlanTag = captured.vlanTag();
        boolean vlan = vlanTag != -1;
        boolean hasVnet = vlan ? vnetNeedsChecksum(vnet) || !isZero(vnet) : !isZero(vnet);
        long frameLength = frame.byteSize() + (vlan ? VLAN_TAG_LENGTH : 0);
        long size = align(ENTRY_HEADER + (hasVnet ? KeptFrame.VNET_HEADER_SIZE : 0) + frameLength);
        long at = reserve(size, placeholderReserve);
        if (at < 0) {
            at = reserve(ENTRY_HEADER, 0);
            if (at < 0) {
                return Appended.REFUSED;
            }
            writeHeader(at, 0, NOT_STORED, sequence, capturedNanos);
            lastAppended = sequence;
            return Appended.PLACEHOLDER;
        }
        writeHeader(at, (int) frameLength, hasVnet ? HAS_VNET_HEADER : 0, sequence, capturedNanos);
        lastAppended = sequence;
        long data = at + ENTRY_HEADER;
        if (hasVnet) {
            MemorySegment.copy(vnet, 0, ring, data, KeptFrame.VNET_HEADER_SIZE);
            if (vlan && vnetNeedsChecksum(vnet)) {
                // The checksum start counts from the MAC header, which grows by the tag put back into the frame.
                short start = ring.get(JAVA_SHORT_UNALIGNED, data + 6);
                ring.set(JAVA_SHORT_UNALIGNED, data + 6, (short) (start + VLAN_TAG_LENGTH));
            }
            data += KeptFrame.VNET_HEADER_SIZE;
        }
        if (vlan) {
            MemorySegment.copy(frame, 0, ring, data, 12);
            ring.set(JAVA_BYTE, data + 12, (byte) (vlanTag >>> 24));
            ring.set(JAVA_BYTE, data + 13, (byte) (vlanTag >>> 16));
            ring.set(JAVA_BYTE, data + 14, (byte) (vlanTag >>> 8));
            ring.set(JAVA_BYTE, data + 15, (byte) vlanTag);
            MemorySegment.copy(frame, 12, ring, data + 16, frame.byteSize() - 12);
        } else {
            MemorySegment.copy(frame, 0, ring, data, frame.byteSize());
        }
        frameBytes += frameLength;
        return Appended.STORED;
    }

    /** Physical offset for an entry of {@code size} bytes leaving {@code keepFree} unused, or -1; counts it. */
    private long reserve(long size, long keepFree) {
        long physical = tail % capacity;
        long skip = physical + size > capacity ? capacity - physical : 0;
        if (tail + skip + size - head > capacity - keepFree) {
            return -1;
        }
        if (skip > 0) {
            ring.set(JAVA_INT, physical, WRAP);
            tail += skip;
            physical = 0;
        }
        tail += size;
        entries++;
        unclassifiedEntries++;
        return physical;
    }

    private void writeHeader(long at, int storedLength, int flags, long sequence, long capturedNanos) {
        ring.set(JAVA_INT, at, storedLength);
        ring.set(JAVA_INT, at + 4, flags);
        ring.set(JAVA_LONG, at + 8, sequence);
        ring.set(JAVA_LONG, at + 16, capturedNanos);
    }

    /**
     * Matches the unclassified entries captured up to {@code throughNanos} against a counter sample that saw
     * {@code newDrops} more tap drops: the tap drops at the tail of its ring only when it is full, so the newest
     * {@code newDrops} of these entries are the dropped ones.
     *
     * @return drops that found no entry to fall on (the sample saw drops of frames not yet captured)
     */
    long classify(long throughNanos, long newDrops) {
        long end = classified;
        int count = 0;
        for (int i = 0; i < unclassifiedEntries; i++) {
            long at = skipWrap(end);
            if (ring.get(JAVA_LONG, at % capacity + 16) - throughNanos > 0) {
                break;
            }
            end = at + entrySize(at % capacity);
            count++;
        }
        long dropped = Math.min(newDrops, count);
        long position = classified;
        for (int i = 0; i < count; i++) {
            position = skipWrap(position);
            long physical = position % capacity;
            if (i >= count - dropped) {
                ring.set(JAVA_INT, physical + 4, ring.get(JAVA_INT, physical + 4) | DROPPED_BY_TAP);
            }
            position += entrySize(physical);
        }
        classified = end;
        unclassifiedEntries -= count;
        return newDrops - dropped;
    }

    /**
     * Lets classified entries leave from the head while the tap's read counter says the VM has read them.
     *
     * @param readsToRelease queued frames the VM has read that are still in this buffer
     * @param outcome counts what left
     */
    void release(long readsToRelease, ReleaseOutcome outcome) {
        long remaining = readsToRelease;
        while (remaining > 0 && head != classified) {
            long at = skipWrap(head);
            long physical = at % capacity;
            int flags = ring.get(JAVA_INT, physical + 4);
            if ((flags & DROPPED_BY_TAP) != 0) {
                // The VM read a later frame, so it ran on without this one: it is gone, not pending.
                outcome.supersededTapDrops++;
            } else {
                outcome.read++;
                remaining--;
            }
            removeHead(at, physical);
        }
    }

    /** Counts of frames that left the buffer in one {@link #release}. */
    static final class ReleaseOutcome {
        long read;
        long supersededTapDrops;
    }

    /** Removes the kept frames numbered up to {@code sequence}: the receiver has them. Returns how many. */
    int discardThrough(long sequence) {
        int removed = 0;
        while (entries > 0) {
            long at = skipWrap(head);
            long physical = at % capacity;
            if (ring.get(JAVA_LONG, physical + 8) - sequenceBase > sequence) {
                break;
            }
            removeHead(at, physical);
            removed++;
        }
        return removed;
    }

    /** Hands the oldest kept frames, up to {@code max}, to {@code reader} and removes them; returns how many. */
    int take(int max, KeptFrameReader reader) {
        int taken = 0;
        while (taken < max && entries > 0) {
            long at = skipWrap(head);
            long physical = at % capacity;
            boolean placeholder = (ring.get(JAVA_INT, physical + 4) & NOT_STORED) != 0;
            if (!placeholder) {
                reader.read(viewAt(physical));
            }
            removeHead(at, physical);
            taken++;
        }
        return taken;
    }

    /**
     * Forgets the entries captured up to {@code throughNanos}, before counting started, and numbers the rest from 0.
     */
    void discardCapturedThrough(long throughNanos, long nextSequence) {
        while (entries > 0) {
            long at = skipWrap(head);
            long physical = at % capacity;
            if (ring.get(JAVA_LONG, physical + 16) - throughNanos > 0) {
                break;
            }
            removeHead(at, physical);
        }
        sequenceBase = entries > 0 ? ring.get(JAVA_LONG, skipWrap(head) % capacity + 8) : nextSequence;
    }

    /**
     * Hands up to {@code max} kept frames numbered after {@code afterSequence} to {@code reader}, oldest first,
     * leaving them in place; returns how many.
     */
    int readAfter(long afterSequence, int max, KeptFrameReader reader) {
        long position = head;
        int handed = 0;
        for (int i = 0; i < entries && handed < max; i++) {
            position = skipWrap(position);
            long physical = position % capacity;
            boolean stored = (ring.get(JAVA_INT, physical + 4) & NOT_STORED) == 0;
            if (stored && ring.get(JAVA_LONG, physical + 8) - sequenceBase > afterSequence) {
                reader.read(viewAt(physical));
                handed++;
            }
            position += entrySize(physical);
        }
        return handed;
    }

    /** The number of the newest entry, or -1 if there is none. */
    long newestSequence() {
        return lastAppended - sequenceBase;
    }

    /** Hands every kept frame to {@code reader}, oldest first, leaving them in place. */
    void forEach(KeptFrameReader reader) {
        long position = head;
        for (int i = 0; i < entries; i++) {
            position = skipWrap(position);
            long physical = position % capacity;
            if ((ring.get(JAVA_INT, physical + 4) & NOT_STORED) == 0) {
                reader.read(viewAt(physical));
            }
            position += entrySize(physical);
        }
    }

    private KeptFrame viewAt(long physical) {
        int length = ring.get(JAVA_INT, physical);
        int flags = ring.get(JAVA_INT, physical + 4);
        view.sequence = ring.get(JAVA_LONG, physical + 8) - sequenceBase;
        view.capturedNanos = ring.get(JAVA_LONG, physical + 16);
        view.droppedByTap = (flags & DROPPED_BY_TAP) != 0;
        long data = physical + ENTRY_HEADER;
        if ((flags & HAS_VNET_HEADER) != 0) {
            view.vnetHeader = ring.asSlice(data, KeptFrame.VNET_HEADER_SIZE);
            data += KeptFrame.VNET_HEADER_SIZE;
        } else {
            view.vnetHeader = KeptFrame.ZERO_VNET_HEADER;
        }
        view.frame = ring.asSlice(data, length);
        return view;
    }

    private void removeHead(long at, long physical) {
        frameBytes -= ring.get(JAVA_INT, physical);
        long next = at + entrySize(physical);
        if (head == classified) {
            classified = next;
            unclassifiedEntries--;
        }
        head = next;
        entries--;
        if (entries == 0) {
            // Restarting at the ring's start keeps large frames from wrapping needlessly.
            head = classified = tail = 0;
            unclassifiedEntries = 0;
        }
    }

    private long skipWrap(long position) {
        long physical = position % capacity;
        if (physical + ENTRY_HEADER > capacity || ring.get(JAVA_INT, physical) == WRAP) {
            return position + capacity - physical;
        }
        return position;
    }

    private long entrySize(long physical) {
        int length = ring.get(JAVA_INT, physical);
        boolean hasVnet = (ring.get(JAVA_INT, physical + 4) & HAS_VNET_HEADER) != 0;
        return align(ENTRY_HEADER + (hasVnet ? KeptFrame.VNET_HEADER_SIZE : 0) + length);
    }

    /** Frames kept, placeholders included. */
    int entries() {
        return entries;
    }

    /** Frame bytes kept, entry headers excluded. */
    long frameBytes() {
        return frameBytes;
    }

    /** Bytes of the ring in use, entry headers and alignment included. */
    long usedBytes() {
        return tail - head;
    }

    long capacity() {
        return capacity;
    }

    private static boolean isZero(MemorySegment vnet) {
        for (long i = 0; i < vnet.byteSize(); i++) {
            if (vnet.get(JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean vnetNeedsChecksum(MemorySegment vnet) {
        return (vnet.get(JAVA_BYTE, 0) & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    }

    private static long align(long size) {
        return (size + 7) & ~7L;
    }

    @Override
    public void close() {
        arena.close();
    }
}
