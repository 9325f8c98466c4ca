package io.netpass.controller.security;

import io.netpass.common.security.TokenFile;
import java.nio.file.Path;
import java.time.Duration;

import jakarta.validation.constraints.NotNull;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Authentication of the controller ({@code netpass.controller.security.*}).
 *
 * @param callerTokenFile file holding the tokens orchestrators present, one per line (during a rotation both old and
 *     new may be listed); required.
 * @param agentRegistrationTokenFile file holding the tokens agents present to register themselves
 *     ({@code PUT /v1/agents/NAME}); optional, without it only caller tokens may register agents.
 * @param agentTokenFile file whose first line is the token the controller presents to agents; required.
 * @param tokenRefresh how often the token files are read again. Default 5s.
 * @param knownAgentsOnly whether a migration may only name agents the controller knows (configured or registered).
 *     Default true: the controller presents its agent token to those URLs, so an arbitrary URL would leak it.
 */
@ConfigurationProperties("netpass.controller.security")
@Validated
public record ControllerSecurityProperties(
        @Nullable Path callerTokenFile,
        @Nullable Path agentRegistrationTokenFile,
        @Nullable Path agentTokenFile,
        @NotNull @DefaultValue("5s") Duration tokenRefresh,
        @DefaultValue("true") boolean knownAgentsOnly) {
}
