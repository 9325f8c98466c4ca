package io.netpass.controller.migration;

import java.net.URI;
import java.time.Instant;
import java.util.List;

import org.jspecify.annotations.Nullable;

/** A migration as its file in the state directory holds it: what agents cannot tell after a restart. */
record StoredMigration(
        String id,
        @Nullable String idempotencyKey,
        String vm,
        URI sourceAgent,
        URI destinationAgent,
        List<Nic> nics,
        Instant createdAt,
        MigrationState state,
        @Nullable String reason,
        @Nullable Instant armedAt,
        @Nullable Instant switchingAt,
        @Nullable VmLocator discover) {

    static StoredMigration of(MigrationSnapshot snapshot) {
        return new StoredMigration(snapshot.id(), snapshot.idempotencyKey(), snapshot.vm(), snapshot.sourceAgent(),
                snapshot.destinationAgent(), snapshot.nics(), snapshot.createdAt(), snapshot.state(),
                snapshot.reason(), snapshot.armedAt(), snapshot.switchingAt(), snapshot.discover());
    }

    Migration toMigration() {
        Migration migration = new Migration(id, idempotencyKey, vm, sourceAgent, destinationAgent, nics, discover,
                createdAt, true, state == MigrationState.PENDING ? MigrationState.ARMED : state);
        if (!migration.discovered()) {
            // Stopped before discovery finished: nothing was armed, and no agent session can tell more.
            migration.moveTo(MigrationState.DEGRADED, state.active()
                    ? "the controller restarted before discovery finished" : reason, Instant.now());
            return migration;
        }
        // A crash during arming leaves it unknown whether the agents were armed; reading them tells.
        MigrationState restored = state == MigrationState.PENDING ? MigrationState.ARMED : state;
        migration.restoreTimes(armedAt == null ? createdAt : armedAt, switchingAt);
        if (!restored.active()) {
            migration.moveTo(restored, reason, Instant.now());
        }
        return migration;
    }
}
