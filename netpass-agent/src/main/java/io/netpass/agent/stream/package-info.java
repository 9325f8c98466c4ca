/**
 * The frame stream: the versioned binary framing that carries kept frames from the source host's agent to the
 * destination host's agent inside one HTTP/2 response body, as records: FRAME records with the frames, READ records
 * telling which frames the source VM read after all (every one below their {@code unreadFrom}; the receiver withdraws
 * those it holds), once flagged final when the source VM runs elsewhere and can read no more, then an END record.
 * {@link io.netpass.agent.stream.FrameStreamEncoder} turns kept frames and reads into body chunks;
 * {@link io.netpass.agent.stream.FrameStreamDecoder} turns chunks, split anywhere, back into
 * {@link io.netpass.agent.stream.FrameStreamRecord}s ({@link io.netpass.agent.stream.ForwardedFrame} or
 * {@link io.netpass.agent.stream.SourceRead}) with bounded memory, tells a clean end of stream from a cut connection,
 * and rejects anything else with a {@link io.netpass.agent.stream.MalformedFrameStreamException}. The wire format is
 * specified in {@code docs/frame-stream.md}.
 */
@NullMarked
package io.netpass.agent.stream;

import org.jspecify.annotations.NullMarked;
