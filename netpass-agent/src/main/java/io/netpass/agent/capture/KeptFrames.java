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
 * against a sample of the tap's counters: each frame is either queued in the tap's FIFO ring or dropped by the tap.
 * Queued frames leave from the head as the tap's read counter passes them.
 *
 * <p>An entry is a stored frame, or a <em>run</em>: frames that did not fit, counted but not stored, so that the
 * tap's order can still be followed. Layout, 8-byte aligned: {@code int storedLength} (-1 marks a wrap to offset
 * 0), {@code int flags}, {@code long sequence}, {@code long capturedNanos}; then for a frame the vnet header if it is
 * not all zero and the frame bytes, for a run {@code int frames}, {@code int droppedByTap},
 * {@code int classifiedFrames} and 4 unused bytes. A run stays open for more frames until a stored frame follows
 * it, and may be classified several times while it grows.
 */
final class KeptFrames implements AutoCloseable {

    static final int ENTRY_HEADER = 24;
    static final int RUN_ENTRY = ENTRY_HEADER + 16;
    private static final int RUN_FRAMES = ENTRY_HEADER;
    private static final int RUN_DROPPED = ENTRY_HEADER + 4;
    private static final int RUN_CLASSIFIED = ENTRY_HEADER + 8;
    private static final int WRAP = -1;
    private static final int HAS_VNET_HEADER = 1;
    private static final int DROPPED_BY_TAP = 2;
    private static final int RUN = 4;
    private static final int VLAN_TAG_LENGTH = 4;
    private static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
    private static final int MAX_FRAME = 65_536 + 64;
    static final long NO_AGE_LIMIT = Long.MAX_VALUE;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ring;
    private final long capacity;
    private final long runReserve;
    private final KeptFrame view = new KeptFrame();
    /** A copy of the last stored frame the VM read: the VMM may still hold it (see {@link #readLastRead}). */
    private final MemorySegment lastRead;
    private boolean hasLastRead;
    private long head;
    private long classified;
    private long tail;
    private long openRun = -1;
    private int entries;
    private int unclassifiedEntries;
    private long frames;
    private long frameBytes;
    private long runFrames;
    private long runFramesGone;
    private long sequenceBase;
    private long lastAppended = -1;
    /** Sequence of the newest stored frame that left because the VM read it or a frame after it; -1 before. */
    private long readThrough = -1;
    private long newestClassified = -1;
    /** Entries removed from the head so far: a {@link #readAfter} resume point is valid while this is unchanged. */
    private long removals;
    private long resumeRemovals = -1;
    private long resumePosition;
    private int resumeIndex;
    private long resumeAfter = Long.MAX_VALUE;

    /**
     * @param capacity bytes of the ring, frames and their entry headers together
     * @param runReserve bytes only runs may use, so that frames refused for lack of room are still counted in the
     *     tap's order
     */
    KeptFrames(long capacity, long runReserve) {
        this.capacity = align(capacity);
        this.runReserve = runReserve;
        this.ring = arena.allocate(this.capacity, 8);
        this.lastRead = arena.allocate(align(ENTRY_HEADER + KeptFrame.VNET_HEADER_SIZE + MAX_FRAME), 8);
    }

    /** Outcome of {@link #append}. */
    enum Appended { STORED, COUNTED, REFUSED }

    /**
     * Appends a captured frame. When the frame does not fit, it is counted in a run that keeps its place in the
     * tap's order; when not even a new run fits, nothing is appended.
     */
    Appended append(long sequence, long capturedNanos, CapturedFrame captured) {
        int vlanTag = captured.vlanTag();
        boolean vlan = vlanTag != -1;
        boolean hasVnet = !vnetHeaderIsZero(captured);
        long capturedLength = captured.frameLength();
        long frameLength = capturedLength + (vlan ? VLAN_TAG_LENGTH : 0);
        long size = align(ENTRY_HEADER + (hasVnet ? KeptFrame.VNET_HEADER_SIZE : 0) + frameLength);
        long at = openRun < 0 ? reserve(size, runReserve) : -1;
        if (at < 0) {
            return countInRun(sequence, capturedNanos) ? Appended.COUNTED : Appended.REFUSED;
        }
        writeHeader(at, (int) frameLength, hasVnet ? HAS_VNET_HEADER : 0, sequence, capturedNanos);
        lastAppended = sequence;
        frames++;
        long data = at + ENTRY_HEADER;
        if (hasVnet) {
            captured.copyVnetHeader(ring, data);
            if (vlan && (captured.vnetHeaderByte(0) & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0) {
                // The checksum start counts from the MAC header, which grows by the tag put back into the frame.
                short start = ring.get(JAVA_SHORT_UNALIGNED, data + 6);
                ring.set(JAVA_SHORT_UNALIGNED, data + 6, (short) (start + VLAN_TAG_LENGTH));
            }
            data += KeptFrame.VNET_HEADER_SIZE;
        }
        if (vlan) {
            captured.copyFrame(0, ring, data, 12);
            ring.set(JAVA_BYTE, data + 12, (byte) (vlanTag >>> 24));
            ring.set(JAVA_BYTE, data + 13, (byte) (vlanTag >>> 16));
            ring.set(JAVA_BYTE, data + 14, (byte) (vlanTag >>> 8));
            ring.set(JAVA_BYTE, data + 15, (byte) vlanTag);
            captured.copyFrame(12, ring, data + 16, capturedLength - 12);
        } else {
            captured.copyFrame(0, ring, data, capturedLength);
        }
        frameBytes += frameLength;
        return Appended.STORED;
    }

    /**
     * Counts a frame that is not stored. Once a run is open, later frames join it even if room comes back, so that
     * what is stored stays a gap-free prefix of what was kept.
     */
    private boolean countInRun(long sequence, long capturedNanos) {
        if (openRun < 0) {
            long at = reserve(RUN_ENTRY, 0);
            if (at < 0) {
                return false;
            }
            writeHeader(at, 0, RUN, sequence, capturedNanos);
            ring.set(JAVA_LONG, at + RUN_FRAMES, 0L);
            ring.set(JAVA_LONG, at + RUN_CLASSIFIED, 0L);
            openRun = at;
        }
        ring.set(JAVA_INT, openRun + RUN_FRAMES, ring.get(JAVA_INT, openRun + RUN_FRAMES) + 1);
        lastAppended = sequence;
        frames++;
        runFrames++;
        return true;
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
     * Matches the unclassified frames captured up to {@code throughNanos} against a counter sample that saw
     * {@code newDrops} more tap drops: the tap drops at the tail of its ring only when it is full, so the newest
     * {@code newDrops} of these frames are the dropped ones. The frames a run gained since its last classification
     * are classified together.
     *
     * @return drops that found no frame to fall on (the sample saw drops of frames not yet captured)
     */
    long classify(long throughNanos, long newDrops) {
        long position = classified;
        int count = 0;
        long groupFrames = 0;
        for (int i = 0; i < unclassifiedEntries; i++) {
            long at = skipWrap(position);
            long physical = at % capacity;
            if (ring.get(JAVA_LONG, physical + 16) - throughNanos > 0) {
                break;
            }
            groupFrames += unclassifiedFramesIn(physical);
            newestClassified = ring.get(JAVA_LONG, physical + 8) + framesIn(physical) - 1;
            position = at + entrySize(physical);
            count++;
        }
        long dropped = Math.min(newDrops, groupFrames);
        long queuedLeft = groupFrames - dropped;
        position = classified;
        long end = classified;
        int fullyClassified = 0;
        for (int i = 0; i < count; i++) {
            long at = skipWrap(position);
            long physical = at % capacity;
            int flags = ring.get(JAVA_INT, physical + 4);
            if ((flags & RUN) != 0) {
                long fresh = unclassifiedFramesIn(physical);
                long freshQueued = Math.min(fresh, queuedLeft);
                queuedLeft -= freshQueued;
                ring.set(JAVA_INT, physical + RUN_DROPPED,
                        (int) (ring.get(JAVA_INT, physical + RUN_DROPPED) + fresh - freshQueued));
                ring.set(JAVA_INT, physical + RUN_CLASSIFIED, ring.get(JAVA_INT, physical + RUN_FRAMES));
            } else if (queuedLeft > 0) {
                queuedLeft--;
            } else {
                ring.set(JAVA_INT, physical + 4, flags | DROPPED_BY_TAP);
            }
            position = at + entrySize(physical);
            // An open run may still grow: the cursor stays on it so that its new frames are classified later.
            if (physical != openRun) {
                end = position;
                fullyClassified++;
            }
        }
        classified = end;
        unclassifiedEntries -= fullyClassified;
        return newDrops - dropped;
    }

    private long unclassifiedFramesIn(long physical) {
        if ((ring.get(JAVA_INT, physical + 4) & RUN) == 0) {
            return 1;
        }
        return ring.get(JAVA_INT, physical + RUN_FRAMES) - ring.get(JAVA_INT, physical + RUN_CLASSIFIED);
    }

    /**
     * Lets classified frames leave from the head while the tap's read counter says the VM has read them.
     *
     * @param readsToRelease queued frames the VM has read that are still in this buffer
     * @param outcome counts what left
     */
    void release(long readsToRelease, ReleaseOutcome outcome) {
        long lastReleased = -1;
        try {
            lastReleased = releaseFromHead(readsToRelease, outcome);
        } finally {
            if (lastReleased >= 0) {
                // The entry's bytes stay in the ring until an append reuses them, so one copy per release suffices.
                MemorySegment.copy(ring, lastReleased, lastRead, 0, entrySize(lastReleased));
                hasLastRead = true;
            }
        }
    }

    /** Returns the physical offset of the last stored frame released as read, or -1. */
    private long releaseFromHead(long readsToRelease, ReleaseOutcome outcome) {
        long lastReleased = -1;
        long remaining = readsToRelease;
        while (remaining > 0 && entries > 0) {
            long at = skipWrap(head);
            long physical = at % capacity;
            int flags = ring.get(JAVA_INT, physical + 4);
            boolean atCursor = head == classified;
            if ((flags & RUN) != 0) {
                int runFrames = ring.get(JAVA_INT, physical + RUN_FRAMES);
                int runClassified = ring.get(JAVA_INT, physical + RUN_CLASSIFIED);
                int runDropped = ring.get(JAVA_INT, physical + RUN_DROPPED);
                long runQueued = runClassified - runDropped;
                if (remaining < runQueued) {
                    ring.set(JAVA_INT, physical + RUN_FRAMES, (int) (runFrames - remaining));
                    ring.set(JAVA_INT, physical + RUN_CLASSIFIED, (int) (runClassified - remaining));
                    frames -= remaining;
                    this.runFrames -= remaining;
                    outcome.read += remaining;
                    return lastReleased;
                }
                remaining -= runQueued;
                outcome.read += runQueued;
                // The VM read frames after these drops, so it ran on without them: gone, not pending.
                outcome.supersededTapDrops += runDropped;
                if (runClassified < runFrames) {
                    ring.set(JAVA_INT, physical + RUN_FRAMES, runFrames - runClassified);
                    ring.set(JAVA_LONG, physical + RUN_CLASSIFIED, 0L);
                    frames -= runClassified;
                    this.runFrames -= runClassified;
                    return lastReleased;
                }
            } else if (atCursor) {
                return lastReleased;
            } else if ((flags & DROPPED_BY_TAP) != 0) {
                outcome.supersededTapDrops++;
            } else {
                outcome.read++;
                remaining--;
                lastReleased = physical;
            }
            if ((flags & RUN) == 0) {
                readThrough = ring.get(JAVA_LONG, physical + 8) - sequenceBase;
            }
            removeHead(at, physical);
        }
        return lastReleased;
    }

    /** Counts of frames that left the buffer in one {@link #release}. */
    static final class ReleaseOutcome {
        long read;
        long supersededTapDrops;
    }

    /**
     * Hands the oldest kept frames, up to {@code max} entries, to {@code reader} and removes them; frames counted in
     * runs are removed without being handed over. Returns how many frames were removed.
     */
    long take(int max, KeptFrameReader reader) {
        long taken = 0;
        for (int i = 0; i < max && entries > 0; i++) {
            long at = skipWrap(head);
            long physical = at % capacity;
            if ((ring.get(JAVA_INT, physical + 4) & RUN) == 0) {
                reader.read(viewAt(physical));
            } else {
                runFramesGone += framesIn(physical);
            }
            taken += framesIn(physical);
            removeHead(at, physical);
        }
        return taken;
    }

    /** Removes the kept frames numbered up to {@code sequence}: the receiver has them. */
    void discardThrough(long sequence) {
        while (entries > 0) {
            long at = skipWrap(head);
            long physical = at % capacity;
            long last = ring.get(JAVA_LONG, physical + 8) + framesIn(physical) - 1 - sequenceBase;
            if (last > sequence) {
                break;
            }
            if ((ring.get(JAVA_INT, physical + 4) & RUN) != 0) {
                runFramesGone += framesIn(physical);
            }
            removeHead(at, physical);
        }
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
        resumeRemovals = -1;
    }

    /**
     * Hands up to {@code max} stored frames numbered after {@code afterSequence}, covered by a counter sample (see
     * {@link #newestClassifiedSequence()}) and captured at or before {@code capturedThroughNanos} (or any time with
     * {@link #NO_AGE_LIMIT}), to {@code reader}, oldest first, leaving them in place; returns how many.
     */
    int readAfter(long afterSequence, int max, long capturedThroughNanos, KeptFrameReader reader) {
        long position = head;
        int i = 0;
        // A stream reads on where its previous call stopped: scanning from the head each time made forwarding a
        // large buffer quadratic (a 64 MB buffer of 1500 B frames is 170 calls of up to 43,000 entries each).
        if (resumeRemovals == removals && resumeAfter <= afterSequence) {
            position = resumePosition;
            i = resumeIndex;
        }
        int handed = 0;
        for (; i < entries && handed < max; i++) {
            position = skipWrap(position);
            long physical = position % capacity;
            long sequence = ring.get(JAVA_LONG, physical + 8);
            if (sequence > newestClassified || capturedThroughNanos != NO_AGE_LIMIT
                    && ring.get(JAVA_LONG, physical + 16) - capturedThroughNanos > 0) {
                break;
            }
            boolean stored = (ring.get(JAVA_INT, physical + 4) & RUN) == 0;
            if (stored && sequence - sequenceBase > afterSequence) {
                reader.read(viewAt(physical));
                handed++;
            }
            position += entrySize(physical);
            // Every entry before this position is numbered at most this: entries are in sequence order.
            resumePosition = position;
            resumeIndex = i + 1;
            resumeAfter = sequence - sequenceBase;
            resumeRemovals = removals;
        }
        return handed;
    }

    /**
     * The number of the newest frame a counter sample has covered: frames up to it that are still kept were unread
     * when that sample was taken. Only these may be forwarded; a newer frame may be read by a VM that still runs.
     */
    long newestClassifiedSequence() {
        return newestClassified - sequenceBase;
    }

    /**
     * The newest stored frame the VM has read, or read past (a frame the tap dropped while the VM ran on): no frame
     * up to it is kept any more, whatever the receiver acknowledged; -1 while none.
     */
    long readThrough() {
        return readThrough;
    }

    /** Hands every stored frame to {@code reader}, oldest first, leaving them in place. */
    void forEach(KeptFrameReader reader) {
        long position = head;
        for (int i = 0; i < entries; i++) {
            position = skipWrap(position);
            long physical = position % capacity;
            if ((ring.get(JAVA_INT, physical + 4) & RUN) == 0) {
                reader.read(viewAt(physical));
            }
            position += entrySize(physical);
        }
    }

    private KeptFrame viewAt(long physical) {
        return viewAt(ring, physical);
    }

    private KeptFrame viewAt(MemorySegment segment, long offset) {
        int length = segment.get(JAVA_INT, offset);
        int flags = segment.get(JAVA_INT, offset + 4);
        view.sequence = segment.get(JAVA_LONG, offset + 8) - sequenceBase;
        view.capturedNanos = segment.get(JAVA_LONG, offset + 16);
        view.droppedByTap = (flags & DROPPED_BY_TAP) != 0;
        long data = offset + ENTRY_HEADER;
        if ((flags & HAS_VNET_HEADER) != 0) {
            view.vnetHeader = segment.asSlice(data, KeptFrame.VNET_HEADER_SIZE);
            data += KeptFrame.VNET_HEADER_SIZE;
        } else {
            view.vnetHeader = KeptFrame.ZERO_VNET_HEADER;
        }
        view.frame = segment.asSlice(data, length);
        return view;
    }

    /**
     * Hands the last stored frame the VM read to {@code reader}, if there is one and the oldest kept frame directly
     * follows it. QEMU reads one frame after the VM stops, fails to deliver it and holds it in its own queue,
     * which the migration does not carry: that frame is counted as read, yet never reaches the guest.
     *
     * @return whether a frame was handed over
     */
    boolean readLastRead(KeptFrameReader reader) {
        if (!hasLastRead || entries == 0) {
            return false;
        }
        long lastSequence = lastRead.get(JAVA_LONG, 8);
        long firstKept = ring.get(JAVA_LONG, skipWrap(head) % capacity + 8);
        if (firstKept != lastSequence + 1) {
            return false;
        }
        reader.read(viewAt(lastRead, 0));
        return true;
    }

    private void removeHead(long at, long physical) {
        frameBytes -= ring.get(JAVA_INT, physical);
        frames -= framesIn(physical);
        if ((ring.get(JAVA_INT, physical + 4) & RUN) != 0) {
            runFrames -= framesIn(physical);
        }
        if (physical == openRun) {
            openRun = -1;
        }
        long next = at + entrySize(physical);
        removals++;
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

    private long framesIn(long physical) {
        return (ring.get(JAVA_INT, physical + 4) & RUN) != 0 ? ring.get(JAVA_INT, physical + RUN_FRAMES) : 1;
    }

    private long entrySize(long physical) {
        int flags = ring.get(JAVA_INT, physical + 4);
        if ((flags & RUN) != 0) {
            return RUN_ENTRY;
        }
        int length = ring.get(JAVA_INT, physical);
        return align(ENTRY_HEADER + ((flags & HAS_VNET_HEADER) != 0 ? KeptFrame.VNET_HEADER_SIZE : 0) + length);
    }

    /** Frames kept, those counted in runs included. */
    long frames() {
        return frames;
    }

    /**
     * Frames that did not fit and were never read by the VM: those counted in runs now, and those of runs already
     * taken or acknowledged.
     */
    long unstoredFrames() {
        return runFrames + runFramesGone;
    }

    /** Frame bytes stored, entry headers excluded. */
    long frameBytes() {
        return frameBytes;
    }

    /** Bytes of the ring in use, entry headers and alignment included. */
    long usedBytes() {
        return tail - head;
    }

    private static boolean vnetHeaderIsZero(CapturedFrame captured) {
        for (int i = 0; i < KeptFrame.VNET_HEADER_SIZE; i++) {
            if (captured.vnetHeaderByte(i) != 0) {
                return false;
            }
        }
        return true;
    }

    private static long align(long size) {
        return (size + 7) & ~7L;
    }

    @Override
    public void close() {
        arena.close();
    }
}
