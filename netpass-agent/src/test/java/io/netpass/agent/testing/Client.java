package io.netpass.agent.testing;

import io.netpass.agent.linux.NetworkNamespace;

/**
 * A lab namespace standing in for a machine on the VM's network: interface {@value #INTERFACE} with a fixed
 * address, wired by a veth pair to port {@link #hostPort()} of a host's bridge.
 */
public final class Client {

    /** The client's end of its veth pair. */
    public static final String INTERFACE = "eth0";

    private final LabNamespace namespace;
    private final EthernetAddress mac;
    private final Host host;
    private final String hostPort;

    Client(LabNamespace namespace, EthernetAddress mac, Host host, String hostPort) {
        this.namespace = namespace;
        this.mac = mac;
        this.host = host;
        this.hostPort = hostPort;
    }

    public LabNamespace namespace() {
        return namespace;
    }

    public NetworkNamespace network() {
        return namespace.network();
    }

    /** The address of {@value #INTERFACE}. */
    public EthernetAddress mac() {
        return mac;
    }

    public Host host() {
        return host;
    }

    /** The host's end of the veth pair, a port of the host's bridge. */
    public String hostPort() {
        return hostPort;
    }

    /** Sequenced frames from this client to {@code vm}. */
    public SequencedTraffic trafficTo(EthernetAddress vm) {
        return new SequencedTraffic(mac, vm);
    }

    /** A sender on {@value #INTERFACE}; the caller closes it. */
    public FrameSender sender() {
        return FrameSender.open(network(), INTERFACE);
    }

    @Override
    public String toString() {
        return namespace + " via " + host.role() + ":" + hostPort;
    }
}
