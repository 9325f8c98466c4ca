package io.netpass.agent.registration;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How the agent registers itself with the controller ({@code netpass.agent.registration.*}).
 *
 * @param controllerUrl the controller's API base URL, e.g. {@code http://netpass-controller:7080}. Default none:
 *     registration is off, and the controller must be configured with this agent ({@code netpass.controller.agents}).
 * @param agentName the name to register under, e.g. the node's name; what orchestrators may give as
 *     {@code sourceAgent}/{@code destinationAgent}. Default: the host name (the kernel's), which must then fit the
 *     pattern.
 * @param advertisedUrl the base URL the controller and the other agents reach this agent's API at. Default: derived
 *     from {@code server.address} and the port the API listens on ({@code https} with {@code server.ssl.*});
 *     required when {@code server.address} is unset or a wildcard, since which of the host's addresses the peers
 *     can reach is not known here.
 * @param tokenFile file whose first line is the agent registration token the agent presents to the controller (the
 *     controller's {@code netpass.controller.security.agent-registration-token-file}); a credential of its own, not
 *     the controller's token for agents. Re-read every {@code netpass.agent.security.token-refresh}. Required when
 *     registration is on.
 * @param interval how often the registration is renewed; must be well under the controller's
 *     {@code agent-stale-after} (30s). Default 10s.
 * @param callTimeout the longest one registration call may take, connecting included. Default 5s.
 * @param failureBackoff the wait before the first retry after a failed call; it doubles with every further failure.
 *     Default 1s.
 * @param maxFailureBackoff the longest wait between retries. Default 10s.
 * @param tlsBundle name of the SSL bundle ({@code spring.ssl.bundle.pem.NAME.*}) that verifies a controller reached
 *     over {@code https}: its trust store holds the controller's CA, its key store, if any, is this agent's client
 *     certificate when the controller requires one. Reloaded with the bundle ({@code reload-on-update}). Default
 *     none: an {@code https} controller is verified against the JVM's default trust store.
 */
@ConfigurationProperties("netpass.agent.registration")
@Validated
public record RegistrationProperties(
        @Nullable URI controllerUrl,
        @Nullable @Pattern(regexp = AGENT_NAME) String agentName,
        @Nullable URI advertisedUrl,
        @Nullable Path tokenFile,
        @NotNull @DefaultValue("10s") Duration interval,
        @NotNull @DefaultValue("5s") Duration callTimeout,
        @NotNull @DefaultValue("1s") Duration failureBackoff,
        @NotNull @DefaultValue("10s") Duration maxFailureBackoff,
        @Nullable String tlsBundle) {

    /** The controller's pattern for agent names. */
    static final String AGENT_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
}
