package io.netpass.controller.api;

import java.util.List;

import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

import org.jspecify.annotations.Nullable;

/**
 * Asks the controller to make a migration lossless.
 *
 * @param id the client's id for the migration; absent to use the Idempotency-Key's or a new one
 * @param vm the VM's identity in the orchestrator
 * @param sourceAgent the source host's agent: its base URL, or the name it is configured or registered under
 * @param destinationAgent the destination host's agent, likewise
 * @param nics the VM's NICs and their taps on both hosts
 */
public record CreateMigrationRequest(
        @Nullable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String id,
        @NotNull @Pattern(regexp = ApiPatterns.VM) String vm,
        @NotNull @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_REFERENCE) String sourceAgent,
        @NotNull @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_REFERENCE) String destinationAgent,
        @NotNull @Size(min = 1, max = 16) List<@Valid @NotNull NicRequest> nics) {

    /**
     * One NIC.
     *
     * @param mac its MAC address
     * @param sourceTap its tap on the source host
     * @param sourceNamespace the source tap's network namespace path, absent for the agent's own
     * @param destinationTap its tap on the destination host
     * @param destinationNamespace the destination tap's network namespace path
     */
    public record NicRequest(
            @NotNull @Pattern(regexp = ApiPatterns.MAC) String mac,
            @NotNull @Pattern(regexp = ApiPatterns.INTERFACE) String sourceTap,
            @Nullable @Size(max = 256) @Pattern(regexp = ApiPatterns.NAMESPACE) String sourceNamespace,
            @NotNull @Pattern(regexp = ApiPatterns.INTERFACE) String destinationTap,
            @Nullable @Size(max = 256) @Pattern(regexp = ApiPatterns.NAMESPACE) String destinationNamespace) {
    }
}
