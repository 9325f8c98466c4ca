package io.netpass.controller.api;

import java.time.Instant;
import java.util.List;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.migration.MigrationReport;
import io.netpass.controller.migration.MigrationSnapshot;
import io.netpass.controller.migration.MigrationState;
import io.netpass.controller.migration.Nic;
import io.netpass.controller.migration.RecordedEvent;
import io.netpass.controller.migration.VmLocator;

/**
 * A migration as the API shows it ({@code Migration} in the contract). {@code settled}: it finished and its agents
 * were disarmed (or could not be reached); nothing about it changes any more.
 */
public record MigrationView(
        String id,
        @Nullable String idempotencyKey,
        String vm,
        MigrationState state,
        @Nullable String reason,
        String sourceAgent,
        String destinationAgent,
        List<Nic> nics,
        Instant createdAt,
        Instant updatedAt,
        @Nullable Instant armedAt,
        @Nullable Instant switchingAt,
        @Nullable Instant finishedAt,
        boolean recovered,
        List<RecordedEvent> events,
        @Nullable MigrationReport report,
        boolean settled,
        @Nullable VmLocator discover) {

    static MigrationView of(MigrationSnapshot snapshot) {
        return new MigrationView(snapshot.id(), snapshot.idempotencyKey(), snapshot.vm(), snapshot.state(),
                snapshot.reason(), snapshot.sourceAgent().toString(), snapshot.destinationAgent().toString(),
                snapshot.nics(), snapshot.createdAt(), snapshot.updatedAt(), snapshot.armedAt(),
                snapshot.switchingAt(), snapshot.finishedAt(), snapshot.recovered(), snapshot.events(),
                snapshot.report(), snapshot.settled(), snapshot.discover());
    }

    /** {@code MigrationList} in the contract. */
    public record Page(List<MigrationView> items) {
    }
}
