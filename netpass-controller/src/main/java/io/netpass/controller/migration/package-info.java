/**
 * Migrations and their coordination: the state machine ({@link io.netpass.controller.migration.MigrationState}),
 * the registry that keeps creates idempotent and a VM in one active migration, the coordinator that arms the two
 * agents, watches their sessions, applies timeouts, disarms them and keeps the report, and the recovery that
 * rebuilds migrations in flight from the agents after a restart.
 */
@NullMarked
package io.netpass.controller.migration;

import org.jspecify.annotations.NullMarked;
