package io.netpass.agent.discovery;

import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * A VM found on this host.
 *
 * @param qemuPid its QEMU process
 * @param nics its guest NICs backed by taps, in command-line order
 */
public record DiscoveredVm(int qemuPid, List<TapNic> nics) {

    /**
     * One guest NIC on a tap.
     *
     * @param mac the guest NIC's MAC from QEMU's command line, lower case; absent if QEMU chose it
     * @param tap the tap's name
     * @param namespace the tap's network namespace: a /run/netns/NAME path naming the same namespace if there is
     *        one, otherwise {@code /proc/PID/ns/net}
     */
    public record TapNic(@Nullable String mac, String tap, String namespace) {
    }
}
