package io.netpass.controller.migration;

import org.jspecify.annotations.Nullable;

/**
 * How the agents find a VM on their host when the orchestrator does not name its taps: exactly one of a libvirt
 * domain name or a KubeVirt VMI. A QEMU pid is no locator here: it differs between the two hosts.
 *
 * @param libvirtDomain the libvirt domain's name (QEMU's {@code -name guest=NAME})
 * @param kubevirtVmi the KubeVirt VirtualMachineInstance
 */
public record VmLocator(@Nullable String libvirtDomain, @Nullable KubevirtVmi kubevirtVmi) {

    /**
     * A KubeVirt VirtualMachineInstance; its virt-launcher's libvirt domain is named {@code NAMESPACE_NAME}.
     *
     * @param namespace the VMI's Kubernetes namespace
     * @param name the VMI's name
     */
    public record KubevirtVmi(String namespace, String name) {
    }

    public VmLocator {
        if ((libvirtDomain == null) == (kubevirtVmi == null)) {
            throw new IllegalArgumentException("a VM locator names exactly one of libvirtDomain and kubevirtVmi");
        }
    }

    public static VmLocator libvirt(String domain) {
        return new VmLocator(domain, null);
    }

    public static VmLocator kubevirt(String namespace, String name) {
        return new VmLocator(null, new KubevirtVmi(namespace, name));
    }

    @Override
    public String toString() {
        return libvirtDomain != null ? "libvirt domain " + libvirtDomain
                : "KubeVirt VMI " + kubevirtVmi.namespace() + "/" + kubevirtVmi.name();
    }
}
