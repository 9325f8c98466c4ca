package io.netpass.controller.migration;

import org.jspecify.annotations.Nullable;

/**
 * One NIC of the VM and its taps on both hosts. The taps are absent only in a request that lets the agents discover
 * them ({@link NewMigration#discover()}): such a NIC names just the MAC to keep. Once a migration is armed, every
 * NIC has both taps.
 *
 * @param mac the NIC's MAC address; absent for a migration rebuilt from the agents alone
 * @param sourceTap the tap on the source host
 * @param sourceNamespace its network namespace path, absent for the agent's own
 * @param destinationTap the tap on the destination host
 * @param destinationNamespace its network namespace path
 */
public record Nic(@Nullable String mac, @Nullable String sourceTap, @Nullable String sourceNamespace,
        @Nullable String destinationTap, @Nullable String destinationNamespace) {

    /** A NIC whose taps the agents are to discover. */
    public static Nic toDiscover(String mac) {
        return new Nic(mac, null, null, null, null);
    }

    /** Whether both taps are known. */
    public boolean hasTaps() {
        return sourceTap != null && destinationTap != null;
    }
}
