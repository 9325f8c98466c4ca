package io.netpass.agent.testing;

import io.netpass.agent.linux.NetworkNamespace;

/**
 * A lab namespace standing in for a hypervisor host: bridge {@value #BRIDGE}, up, that clients, other hosts and
 * VM taps are plugged into.
 */
public final class Host {

    /** The bridge every port of the host is attached to. */
    public static final String BRIDGE = "br0";

    private final NamespaceLab lab;
    private final String role;
    private final LabNamespace namespace;

    Host(NamespaceLab lab, String role, LabNamespace namespace) {
        this.lab = lab;
        this.role = role;
        this.namespace = namespace;
    }

    /** The role the host was created with, e.g. {@code src}. */
    public String role() {
        return role;
    }

    public LabNamespace namespace() {
        return namespace;
    }

    public NetworkNamespace network() {
        return namespace.network();
    }

    /** Runs {@code ip ARGS} inside the host. */
    public String ip(String... args) {
        return namespace.ip(args);
    }

    /** Attaches interface {@code name} of this host to the bridge, sets it up and waits until it forwards. */
    public void attach(String name) {
        plug(name);
        namespace.awaitReady(name);
    }

    /** Attaches and sets up without waiting: a veth end cannot be ready before its peer is up too. */
    void plug(String name) {
        ip("link", "set", name, "master", BRIDGE, "up");
    }

    /**
     * Stops the bridge flooding broadcasts and multicasts to port {@code name}: a moved VM's announcement no longer
     * reaches its old tap, as under KubeVirt's masquerade binding or on a routed network (this kernel has no tc
     * classifier or drop action to filter on the VM's address instead).
     */
    public void stopFloodingBroadcastsTo(String name) {
        NamespaceLab.run("bridge", "-n", namespace.name(), "link", "set", "dev", name, "bcast_flood", "off",
                "mcast_flood", "off");
    }

    /**
     * Starts a {@link FakeVm} on a new tap {@code tapName} and plugs the tap into the bridge, as libvirt does with a
     * QEMU's tap. The lab closes the VM, if the test has not, before deleting the namespace.
     */
    public FakeVm startVm(String tapName, EthernetAddress mac) {
        FakeVm vm = lab.own(FakeVm.start(network(), tapName, mac));
        attach(tapName);
        return vm;
    }

    @Override
    public String toString() {
        return role + " (" + namespace + ")";
    }
}
