package io.netpass.agent.api;

import jakarta.validation.constraints.NotNull;

import io.netpass.agent.migration.MigrationEventType;

/** An event an orchestrator reports about a migration. */
public record MigrationEventRequest(@NotNull MigrationEventType type) {
}
