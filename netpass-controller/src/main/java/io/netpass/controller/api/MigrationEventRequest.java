package io.netpass.controller.api;

import jakarta.validation.constraints.NotNull;

import io.netpass.controller.migration.MigrationEventType;

/** An event the orchestrator reports about a migration. */
public record MigrationEventRequest(@NotNull MigrationEventType type) {
}
