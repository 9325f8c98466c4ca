package io.netpass.agent.api;

import java.util.List;

import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

import org.jspecify.annotations.Nullable;

/**
 * Arms the destination side of a migration.
 *
 * @param tap the destination VM's tap interface
 * @param namespace the network namespace the tap is in; absent for the agent's own
 * @param vmMacs the MAC addresses of the VM's NICs on this tap; the first frame from one of them means the VM runs
 * @param sourceAgent base URL of the source host's agent, e.g. {@code http://10.0.0.5:7070}
 */
public record ArmDestinationRequest(
        @NotNull @Pattern(regexp = ApiPatterns.INTERFACE) String tap,
        @Nullable @Size(max = 256) @Pattern(regexp = ApiPatterns.NAMESPACE) String namespace,
        @NotNull @NotEmpty @Size(max = 16) List<@NotNull @Pattern(regexp = ApiPatterns.MAC) String> vmMacs,
        @NotNull @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_URL) String sourceAgent) {
}
