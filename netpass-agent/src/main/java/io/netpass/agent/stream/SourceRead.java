package io.netpass.agent.stream;

/**
 * What the source VM has read, as of a sample of its tap's counters: every frame numbered below {@code unreadFrom}.
 * Frames the receiver got numbered below it are withdrawn, except the one numbered {@code unreadFrom − 1} if it is
 * sent again with {@link ForwardedFrame#heldByVmm()} (docs/frame-stream.md). A READ that repeats the previous
 * {@code unreadFrom} says that nothing more was read as of a newer sample.
 *
 * @param unreadFrom the first frame the source VM had not read, from 0
 * @param sampleAgeMicros how old that counter sample was when the source wrote this record, in µs (at most
 *     2^32 − 1)
 * @param finalCount the sample was taken after the source learned that the VM runs elsewhere (the moved VM's own
 *     frame flooded back to its tap, or the destination's release request): the source VM had stopped for good,
 *     so no read can follow and the destination may inject what it holds
 */
public record SourceRead(long unreadFrom, long sampleAgeMicros, boolean finalCount) implements FrameStreamRecord {

    /** The largest sample age the record carries. */
    public static final long MAX_SAMPLE_AGE_MICROS = 0xFFFF_FFFFL;

    /** A count that more reads may follow. */
    public SourceRead(long unreadFrom, long sampleAgeMicros) {
        this(unreadFrom, sampleAgeMicros, false);
    }

    public SourceRead {
        if (unreadFrom < 0) {
            throw new IllegalArgumentException("unreadFrom " + unreadFrom + " is negative");
        }
        if (sampleAgeMicros < 0 || sampleAgeMicros > MAX_SAMPLE_AGE_MICROS) {
            throw new IllegalArgumentException("sample age " + sampleAgeMicros + " µs outside [0, 2^32-1]");
        }
    }
}
