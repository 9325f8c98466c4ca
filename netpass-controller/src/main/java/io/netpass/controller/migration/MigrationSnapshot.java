package io.netpass.controller.migration;

import java.net.URI;
import java.time.Instant;
import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * A migration at one moment, for the API and the state directory.
 *
 * @param id the migration's id
 * @param idempotencyKey the Idempotency-Key it was created with
 * @param vm the VM's identity; {@code unknown} if rebuilt from the agents alone
 * @param state its state
 * @param reason why it is DEGRADED, FAILED or EXPIRED
 * @param sourceAgent the source host's agent
 * @param destinationAgent the destination host's agent
 * @param nics the VM's NICs
 * @param createdAt when it was created (or rebuilt)
 * @param updatedAt its last state change
 * @param armedAt when both agents were armed
 * @param switchingAt when the switchover was seen or reported
 * @param finishedAt when it finished
 * @param recovered whether this controller rebuilt it from the agents
 * @param events the orchestrator's events
 * @param report what netpass did, once the agents reported anything
 * @param version increases with every state change
 * @param settled whether the agents were disarmed after it finished
 * @param discover how the agents find the VM's taps, if the request let them
 */
public record MigrationSnapshot(
        String id,
        @Nullable String idempotencyKey,
        String vm,
        MigrationState state,
        @Nullable String reason,
        URI sourceAgent,
        URI destinationAgent,
        List<Nic> nics,
        Instant createdAt,
        Instant updatedAt,
        @Nullable Instant armedAt,
        @Nullable Instant switchingAt,
        @Nullable Instant finishedAt,
        boolean recovered,
        List<RecordedEvent> events,
        @Nullable MigrationReport report,
        long version,
        boolean settled,
        @Nullable VmLocator discover) {
}
