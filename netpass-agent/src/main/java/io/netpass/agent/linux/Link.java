package io.netpass.agent.linux;

/**
 * One network interface as the kernel describes it.
 *
 * @param index interface index within its namespace
 * @param name interface name
 * @param kind the rtnetlink link kind ({@code tun}, {@code veth}, {@code bridge}, ...), empty for physical devices
 * @param tap whether it is a tun device in tap mode (frames carry an Ethernet header)
 * @param txQueueLength the interface's transmit queue length; for a tap, the size of its frame ring
 * @param counters the interface's counters
 */
public record Link(int index, String name, String kind, boolean tap, int txQueueLength, TapCounters counters) {
}
