package io.netpass.controller.api;

import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

/** An agent registering itself, or renewing its registration. */
public record AgentRegistrationRequest(@NotNull @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_URL) String baseUrl) {
}
