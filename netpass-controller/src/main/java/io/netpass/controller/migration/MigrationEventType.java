package io.netpass.controller.migration;

/** What an orchestrator reports about a migration; the agents take the same names. */
public enum MigrationEventType {
    /** The source VM was paused for switchover. */
    SOURCE_PAUSED,
    /** The destination VM runs: the destination agent pulls at once. */
    DESTINATION_RESUMED,
    /** The migration failed; the source VM resumes, so nothing may be forwarded. */
    FAILED,
    /** The migration completed; netpass finishes forwarding. */
    COMPLETED
}
