package io.netpass.lab;

import java.time.Duration;

import org.jspecify.annotations.Nullable;

/**
 * What the probes saw across one live migration, and what QEMU reported.
 *
 * @param probeKind what the probes were
 * @param probesPerSecond the probe rate
 * @param sent probes sent
 * @param replies probes that got at least one reply
 * @param lost probes that got none ({@code sent - replies})
 * @param duplicated replies beyond the first for the same probe
 * @param reordered replies that arrived after a reply to a later probe
 * @param longestGap the longest time without a reply while probes were being sent
 * @param qemuDowntime the downtime QEMU reported for the migration, if it did
 * @param migrationTime the migration's total time as QEMU reported it, if it did
 * @param broken whether the destination guest stopped answering entirely after the migration (QEMU 7.2 TCG
 *     virtio-net "is not a head", about 1 run in 75): such a run measures QEMU's bug, not the network
 */
public record MigrationOutcome(MigrationProbe.Kind probeKind, int probesPerSecond, long sent, long replies,
        long lost, long duplicated, long reordered, Duration longestGap, @Nullable Duration qemuDowntime,
        @Nullable Duration migrationTime, boolean broken) {

    /** One line for logs and reports. */
    public String summary() {
        return "%s at %d/s: sent %d, replies %d, lost %d, duplicated %d, reordered %d, longest gap %d ms, "
                .formatted(probeKind, probesPerSecond, sent, replies, lost, duplicated, reordered,
                        longestGap.toMillis())
                + "QEMU downtime " + (qemuDowntime == null ? "?" : qemuDowntime.toMillis() + " ms")
                + ", migration " + (migrationTime == null ? "?" : migrationTime.toMillis() + " ms")
                + (broken ? ", BROKEN (destination guest stopped answering)" : "");
    }
}
