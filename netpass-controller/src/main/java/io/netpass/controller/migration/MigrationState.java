package io.netpass.controller.migration;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * Where a migration is. {@code PENDING → ARMED → SWITCHING → COMPLETED} is the path of a migration netpass made
 * lossless; the other finished states say why it did not.
 */
public enum MigrationState {
    /** Accepted; the agents are being armed. */
    PENDING,
    /** Both agents armed: the source captures, the destination watches for its VM to run. */
    ARMED,
    /** The source VM paused or the destination VM runs: kept frames are being forwarded and injected. */
    SWITCHING,
    /** Both agents finished forwarding; disarmed; the report is final. */
    COMPLETED,
    /** netpass could not help (an agent unreachable or refusing, a session lost); the migration itself goes on. */
    DEGRADED,
    /** The orchestrator reported the migration failed, or forwarding failed on an agent. */
    FAILED,
    /** The orchestrator cancelled netpass's part. */
    CANCELLED,
    /** Armed or switching for longer than allowed; disarmed. */
    EXPIRED;

    public boolean active() {
        return this == PENDING || this == ARMED || this == SWITCHING;
    }

    /** The transitions the coordinator may make; anything else is a bug. */
    public boolean canMoveTo(MigrationState next) {
        return switch (this) {
            case PENDING -> next != PENDING && next != SWITCHING;
            case ARMED -> next != PENDING && next != ARMED;
            case SWITCHING -> !next.active();
            case COMPLETED, DEGRADED, FAILED, CANCELLED, EXPIRED -> false;
        };
    }

    /** Lower case, as in metric tags. */
    public String tag() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Set<MigrationState> finishedStates() {
        return EnumSet.of(COMPLETED, DEGRADED, FAILED, CANCELLED, EXPIRED);
    }
}
