package io.netpass.agent.stream;

/** One record of a frame stream as the receiver acts on it: a frame, or the news that the source VM read frames. */
public sealed interface FrameStreamRecord permits ForwardedFrame, SourceRead {
}
