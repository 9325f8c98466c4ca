package io.netpass.agent.linux;

/**
 * What the kernel says of a capture socket since it was opened.
 *
 * @param frames frames the kernel offered to the socket
 * @param drops frames the kernel could not place in the ring because it was full
 */
public record CaptureStatistics(long frames, long drops) {
}
