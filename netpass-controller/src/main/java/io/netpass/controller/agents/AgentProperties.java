package io.netpass.controller.agents;

import java.net.URI;
import java.time.Duration;
import java.util.List;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * The agents the controller knows and how it calls them ({@code netpass.controller.*}).
 *
 * @param agents agents known without registration, e.g. {@code netpass.controller.agents[0].name=host-a},
 *     {@code netpass.controller.agents[0].base-url=http://10.0.0.5:7070}. Default none.
 * @param agentCalls timeouts and pool of the HTTP client that calls agents
 * @param agentStaleAfter a registered agent that has not renewed its registration for this long is shown as stale.
 *     Default 30s.
 */
@ConfigurationProperties("netpass.controller")
@Validated
public record AgentProperties(
        @Valid @DefaultValue List<StaticAgent> agents,
        @Valid @NotNull @DefaultValue AgentCalls agentCalls,
        @NotNull @DefaultValue("30s") Duration agentStaleAfter) {

    /**
     * An agent configured statically.
     *
     * @param name the agent's name, usually its host's
     * @param baseUrl its API's base URL
     */
    public record StaticAgent(
            @NotNull @Pattern(regexp = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$") String name,
            @NotNull URI baseUrl) {
    }

    /**
     * How the controller calls agents.
     *
     * @param connectTimeout TCP connect timeout. Default 500ms.
     * @param responseTimeout longest wait for an agent's answer to one call, arming included (arming waits for a quiet
     *     moment on the tap, usually a few milliseconds). Default 2s.
     * @param maxConnections connections per agent in the pool. Default 64.
     * @param tlsBundle name of the SSL bundle ({@code spring.ssl.bundle.pem.NAME.*}) that verifies agents reached
     *     over {@code https}: its trust store holds the agents' CA, its key store, if any, is the controller's client
     *     certificate for agents that require one. Reloaded with the bundle ({@code reload-on-update}). Default none:
     *     {@code https} agents are verified against the JVM's default trust store.
     */
    public record AgentCalls(
            @NotNull @DefaultValue("500ms") Duration connectTimeout,
            @NotNull @DefaultValue("2s") Duration responseTimeout,
            @Min(1) @DefaultValue("64") int maxConnections,
            @Nullable String tlsBundle) {
    }
}
