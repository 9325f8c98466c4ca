package io.netpass.agent.linux;

/**
 * A tap's own counters at one moment. For a tap, "transmitted" means read by user space (QEMU or vhost):
 * the kernel counts a frame when the VM side takes it from the tap's ring, not when it is queued.
 *
 * @param readFrames frames the VM side has read ({@code tx_packets})
 * @param readBytes bytes the VM side has read ({@code tx_bytes})
 * @param droppedFrames frames the tap dropped, mostly because its ring was full ({@code tx_dropped})
 */
public record TapCounters(long readFrames, long readBytes, long droppedFrames) {
}
