package io.netpass.controller.agents;

import java.time.Instant;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import org.jspecify.annotations.Nullable;

/**
 * One side of a migration as an agent reports it ({@code Session} in openapi/netpass-agent.yaml). Fields the agent
 * adds later are ignored, so an older controller keeps working with a newer agent.
 *
 * @param migrationId the agent's migration id: the controller's id and the NIC index, {@code ID.N}
 * @param role {@code source} or {@code destination}
 * @param state {@code armed}, {@code forwarding}, {@code completed}, {@code aborted} or {@code failed}
 * @param tap the tap
 * @param namespace the tap's namespace path
 * @param armedAt when the side was armed
 * @param releasedAt source: the first pull; destination: the VM seen running
 * @param failure why it failed or was aborted
 * @param exact whether the frame accounting is exact
 * @param counters frame and byte counts
 * @param timings release latencies in microseconds
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record AgentSession(
        String migrationId,
        String role,
        String state,
        String tap,
        @Nullable String namespace,
        @Nullable Instant armedAt,
        @Nullable Instant releasedAt,
        @Nullable String failure,
        boolean exact,
        @Nullable Map<String, Long> counters,
        @Nullable Map<String, Long> timings) {

    /** Whether the side will not change any more. */
    public boolean finished() {
        return switch (state) {
            case "completed", "aborted", "failed" -> true;
            default -> false;
        };
    }

    /** Whether frames are flowing or flowed: the destination VM was seen running. */
    public boolean released() {
        return releasedAt != null || !"armed".equals(state);
    }

    public long counter(String name) {
        return counters == null ? 0 : counters.getOrDefault(name, 0L);
    }

    public long timing(String name) {
        return timings == null ? -1 : timings.getOrDefault(name, -1L);
    }
}
