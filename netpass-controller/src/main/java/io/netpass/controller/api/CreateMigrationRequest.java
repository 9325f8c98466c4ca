package io.netpass.controller.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnore;
import jakarta.validation.Valid;
import jakarta.validation.constraints.AssertTrue;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

import org.jspecify.annotations.Nullable;

/**
 * Asks the controller to make a migration lossless.
 *
 * @param id the client's id for the migration; absent to use the Idempotency-Key's or a new one
 * @param vm the VM's identity in the orchestrator
 * @param sourceAgent base URL of the source host's agent; may be absent with {@code discover}: then the known agent
 *        (other than the destination's) that finds the VM is the source
 * @param destinationAgent base URL of the destination host's agent
 * @param nics the VM's NICs and their taps on both hosts; with {@code discover} absent (every NIC found) or MACs only
 * @param discover how both agents find the VM's taps themselves
 */
public record CreateMigrationRequest(
        @Nullable @Pattern(regexp = ApiPatterns.MIGRATION_ID) String id,
        @NotNull @Pattern(regexp = ApiPatterns.VM) String vm,
        @Nullable @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_URL) String sourceAgent,
        @NotNull @Size(max = 512) @Pattern(regexp = ApiPatterns.AGENT_URL) String destinationAgent,
        @Nullable @Size(max = 16) List<@Valid @NotNull NicRequest> nics,
        @Nullable @Valid DiscoverRequest discover) {

    /**
     * One NIC.
     *
     * @param mac its MAC address
     * @param sourceTap its tap on the source host; absent with {@code discover}
     * @param sourceNamespace the source tap's network namespace path, absent for the agent's own
     * @param destinationTap its tap on the destination host; absent with {@code discover}
     * @param destinationNamespace the destination tap's network namespace path
     */
    public record NicRequest(
            @NotNull @Pattern(regexp = ApiPatterns.MAC) String mac,
            @Nullable @Pattern(regexp = ApiPatterns.INTERFACE) String sourceTap,
            @Nullable @Size(max = 256) @Pattern(regexp = ApiPatterns.NAMESPACE) String sourceNamespace,
            @Nullable @Pattern(regexp = ApiPatterns.INTERFACE) String destinationTap,
            @Nullable @Size(max = 256) @Pattern(regexp = ApiPatterns.NAMESPACE) String destinationNamespace) {

        @JsonIgnore
        boolean tapsGiven() {
            return sourceTap != null && destinationTap != null;
        }

        @JsonIgnore
        boolean macOnly() {
            return sourceTap == null && sourceNamespace == null && destinationTap == null
                    && destinationNamespace == null;
        }
    }

    /**
     * Exactly one way to find the VM on both hosts.
     *
     * @param libvirtDomain the libvirt domain's name
     * @param kubevirtVmi the KubeVirt VirtualMachineInstance
     */
    public record DiscoverRequest(
            @Nullable @Pattern(regexp = ApiPatterns.LIBVIRT_DOMAIN) String libvirtDomain,
            @Nullable @Valid KubevirtVmiRequest kubevirtVmi) {

        @JsonIgnore
        @AssertTrue(message = "give exactly one of libvirtDomain and kubevirtVmi")
        public boolean isExactlyOne() {
            return (libvirtDomain == null) != (kubevirtVmi == null);
        }
    }

    /**
     * A KubeVirt VirtualMachineInstance.
     *
     * @param namespace its Kubernetes namespace
     * @param name its name
     */
    public record KubevirtVmiRequest(
            @NotNull @Pattern(regexp = ApiPatterns.KUBERNETES_NAMESPACE) String namespace,
            @NotNull @Pattern(regexp = ApiPatterns.KUBERNETES_NAME) String name) {
    }

    @JsonIgnore
    @AssertTrue(message = "required unless discover is given, and then at most MACs")
    public boolean isNicsConsistent() {
        if (discover == null) {
            return nics != null && !nics.isEmpty() && nics.stream().allMatch(NicRequest::tapsGiven);
        }
        return nics == null || nics.stream().allMatch(NicRequest::macOnly);
    }

    @JsonIgnore
    @AssertTrue(message = "required unless discover is given")
    public boolean isSourceAgentConsistent() {
        return sourceAgent != null || discover != null;
    }
}
