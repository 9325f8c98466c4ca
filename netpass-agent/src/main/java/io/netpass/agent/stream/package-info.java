/**
 * The frame stream: the versioned binary framing that carries kept frames from the source host's agent to the
 * destination host's agent inside one HTTP/2 request body. {@link io.netpass.agent.stream.FrameStreamEncoder} turns
 * kept frames into body chunks; {@link io.netpass.agent.stream.FrameStreamDecoder} turns chunks, split anywhere,
 * back into {@link io.netpass.agent.stream.ForwardedFrame}s with bounded memory, tells a clean end of stream from a
 * cut connection, and rejects anything else with a {@link io.netpass.agent.stream.MalformedFrameStreamException}.
 * The wire format is specified in {@code docs/frame-stream.md}.
 */
@NullMarked
package io.netpass.agent.stream;

import org.jspecify.annotations.NullMarked;
