package io.netpass.controller.migration;

import org.jspecify.annotations.Nullable;

/**
 * One NIC of the VM and its taps on both hosts.
 *
 * @param mac the NIC's MAC address; absent for a migration rebuilt from the agents alone
 * @param sourceTap the tap on the source host
 * @param sourceNamespace its network namespace path, absent for the agent's own
 * @param destinationTap the tap on the destination host
 * @param destinationNamespace its network namespace path
 */
public record Nic(@Nullable String mac, String sourceTap, @Nullable String sourceNamespace, String destinationTap,
        @Nullable String destinationNamespace) {
}
