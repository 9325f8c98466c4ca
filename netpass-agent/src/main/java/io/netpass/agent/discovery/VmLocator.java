package io.netpass.agent.discovery;

import org.jspecify.annotations.Nullable;

/**
 * Which VM to find: exactly one of a QEMU pid, a libvirt domain name or a KubeVirt VMI.
 *
 * @param qemuPid the QEMU process's pid on this host
 * @param libvirtDomain the libvirt domain's name: QEMU's {@code -name guest=NAME}
 * @param kubevirtVmi a KubeVirt VMI, whose virt-launcher names the domain {@code NAMESPACE_NAME}
 */
public record VmLocator(@Nullable Integer qemuPid, @Nullable String libvirtDomain,
        @Nullable KubevirtVmi kubevirtVmi) {

    /**
     * A KubeVirt VirtualMachineInstance.
     *
     * @param namespace its Kubernetes namespace
     * @param name its name
     */
    public record KubevirtVmi(String namespace, String name) {

        /** The libvirt domain KubeVirt's virt-launcher defines for it. */
        public String domainName() {
            return namespace + "_" + name;
        }
    }

    public VmLocator {
        int given = (qemuPid == null ? 0 : 1) + (libvirtDomain == null ? 0 : 1) + (kubevirtVmi == null ? 0 : 1);
        if (given != 1) {
            throw new IllegalArgumentException("name exactly one of qemuPid, libvirtDomain and kubevirtVmi");
        }
    }

    /** The QEMU {@code -name guest=} to look for; absent for a pid. */
    @Nullable String guestName() {
        return kubevirtVmi != null ? kubevirtVmi.domainName() : libvirtDomain;
    }

    @Override
    public String toString() {
        return qemuPid != null ? "QEMU pid " + qemuPid
                : libvirtDomain != null ? "libvirt domain " + libvirtDomain
                : "KubeVirt VMI " + kubevirtVmi.namespace() + "/" + kubevirtVmi.name();
    }
}
