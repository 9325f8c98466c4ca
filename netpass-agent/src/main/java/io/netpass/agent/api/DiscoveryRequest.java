package io.netpass.agent.api;

import com.fasterxml.jackson.annotation.JsonIgnore;
import jakarta.validation.Valid;
import jakarta.validation.constraints.AssertTrue;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;

import org.jspecify.annotations.Nullable;

/**
 * Asks the agent to find a VM on its host: exactly one of the three.
 *
 * @param qemuPid the QEMU process's pid
 * @param libvirtDomain the libvirt domain's name
 * @param kubevirtVmi a KubeVirt VirtualMachineInstance
 */
public record DiscoveryRequest(
        @Nullable @Min(1) @Max(Integer.MAX_VALUE) Integer qemuPid,
        @Nullable @Pattern(regexp = ApiPatterns.LIBVIRT_DOMAIN) String libvirtDomain,
        @Nullable @Valid KubevirtVmi kubevirtVmi) {

    /**
     * A KubeVirt VirtualMachineInstance.
     *
     * @param namespace its Kubernetes namespace
     * @param name its name
     */
    public record KubevirtVmi(
            @NotNull @Pattern(regexp = ApiPatterns.KUBERNETES_NAMESPACE) String namespace,
            @NotNull @Pattern(regexp = ApiPatterns.KUBERNETES_NAME) String name) {
    }

    @JsonIgnore
    @AssertTrue(message = "give exactly one of qemuPid, libvirtDomain and kubevirtVmi")
    public boolean isExactlyOne() {
        return (qemuPid == null ? 0 : 1) + (libvirtDomain == null ? 0 : 1) + (kubevirtVmi == null ? 0 : 1) == 1;
    }
}
