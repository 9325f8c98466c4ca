package io.netpass.agent.stream;

/** The bytes received are not a valid frame stream: what was wrong, and where in the stream. */
public final class MalformedFrameStreamException extends RuntimeException {

    private final long streamOffset;

    MalformedFrameStreamException(String problem, long streamOffset) {
        super(problem + " at byte offset " + streamOffset + " of the stream");
        this.streamOffset = streamOffset;
    }

    MalformedFrameStreamException(String problem, long streamOffset, Throwable cause) {
        super(problem + " at byte offset " + streamOffset + " of the stream", cause);
        this.streamOffset = streamOffset;
    }

    /** Offset, counted from the first byte of the stream header, of the field or byte found wrong. */
    public long streamOffset() {
        return streamOffset;
    }
}
