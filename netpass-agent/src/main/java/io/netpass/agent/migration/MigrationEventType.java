package io.netpass.agent.migration;

/** Events an orchestrator that knows them can report, in addition to what the agents notice themselves. */
public enum MigrationEventType {
    /** The source VM was paused for switchover. Informational: kept frames stay until the destination pulls. */
    SOURCE_PAUSED,
    /** The destination VM runs: the destination pulls at once, without waiting to see the VM's first frame. */
    DESTINATION_RESUMED,
    /** The migration failed; the source VM resumes and reads its own tap, so nothing is forwarded. */
    FAILED,
    /** The migration completed; the session finishes forwarding and may then be disarmed. */
    COMPLETED
}
