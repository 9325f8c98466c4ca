package io.netpass.agent.linux;

/**
 * One network interface as the kernel describes it.
 *
 * @param index interface index within its namespace
 * @param name interface name
 * @param kind the rtnetlink link kind ({@code tun}, {@code veth}, {@code bridge}, ...), empty for physical devices
 * @param tap whether it is a tun device in tap mode (frames carry an Ethernet header)
 * @param txQueueLength the interface's transmit queue length; for a tap, the size of its frame ring
 * @param mtu the interface's MTU: the longest payload of a frame without GSO, Ethernet header excluded
 * @param counters the interface's counters
 */
public record Link(int index, String name, String kind, boolean tap, int txQueueLength, int mtu,
        TapCounters counters) {
}
