package io.netpass.controller.api;

import java.time.Instant;
import java.util.List;
import java.util.Locale;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.agents.AgentDirectory;

/** An agent as the API shows it ({@code Agent} in the contract). */
public record AgentView(String name, String baseUrl, String origin, @Nullable Instant lastSeenAt, boolean stale) {

    static AgentView of(AgentDirectory.KnownAgent agent) {
        return new AgentView(agent.name(), agent.baseUrl().toString(),
                agent.origin().name().toLowerCase(Locale.ROOT), agent.lastSeenAt(), agent.stale());
    }

    /** {@code AgentList} in the contract. */
    public record Page(List<AgentView> items) {
    }
}
