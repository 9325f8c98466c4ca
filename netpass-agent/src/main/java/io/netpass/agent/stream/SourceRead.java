package io.netpass.agent.stream;

/**
 * The source VM has read every frame numbered up to {@code sequence}: frames the receiver got for it up to there
 * are withdrawn, except one sent again with {@link ForwardedFrame#heldByVmm()} (docs/frame-stream.md).
 *
 * @param sequence the newest frame the source VM read, from 0
 */
public record SourceRead(long sequence) implements FrameStreamRecord {

    public SourceRead {
        if (sequence < 0) {
            throw new IllegalArgumentException("sequence " + sequence + " is negative");
        }
    }
}
