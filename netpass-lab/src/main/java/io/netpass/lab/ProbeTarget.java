package io.netpass.lab;

import java.net.Inet4Address;
import java.nio.file.Path;

/**
 * Who probes whom: the client's namespace and interface, and the guest's addresses.
 *
 * @param clientNamespace the namespace the probes leave from ({@code /run/netns/...})
 * @param clientInterface the client's interface in that namespace
 * @param clientMac the client interface's MAC
 * @param clientAddress the client's IPv4 address
 * @param guestAddress the guest's IPv4 address
 * @param guestMac the guest's MAC
 */
public record ProbeTarget(Path clientNamespace, String clientInterface, String clientMac, Inet4Address clientAddress,
        Inet4Address guestAddress, String guestMac) {
}
