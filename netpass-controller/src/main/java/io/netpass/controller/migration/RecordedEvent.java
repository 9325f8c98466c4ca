package io.netpass.controller.migration;

import java.time.Instant;

/** An event the orchestrator reported, and when. */
public record RecordedEvent(MigrationEventType type, Instant at) {
}
