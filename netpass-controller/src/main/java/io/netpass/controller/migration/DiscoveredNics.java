package io.netpass.controller.migration;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.agents.AgentClient;

/** Pairs the NICs both agents discovered by MAC: the source's NIC and the destination's NIC of the same guest NIC. */
final class DiscoveredNics {

    private DiscoveredNics() {
    }

    /**
     * The NICs to arm.
     *
     * @param wanted MACs to keep; empty for every NIC the source found
     * @throws NicsDoNotMatchException naming what does not match
     */
    static List<Nic> pair(List<String> wanted, AgentClient.Discovered source, AgentClient.Discovered destination) {
        Map<String, AgentClient.DiscoveredNic> sources = byMac(source, "source");
        Map<String, AgentClient.DiscoveredNic> destinations = byMac(destination, "destination");
        List<String> macs = wanted.isEmpty() ? List.copyOf(sources.keySet())
                : wanted.stream().map(mac -> mac.toLowerCase(Locale.ROOT)).toList();
        if (macs.isEmpty()) {
            throw new NicsDoNotMatchException("the source's QEMU (pid " + source.qemuPid()
                    + ") has no tap NIC with a MAC");
        }
        List<Nic> nics = new ArrayList<>(macs.size());
        for (String mac : macs) {
            AgentClient.DiscoveredNic from = sources.get(mac);
            AgentClient.DiscoveredNic to = destinations.get(mac);
            if (from == null || to == null) {
                throw new NicsDoNotMatchException("no tap NIC with MAC " + mac + " on the "
                        + (from == null ? "source (QEMU pid " + source.qemuPid() + ")"
                                : "destination (QEMU pid " + destination.qemuPid() + ")"));
            }
            nics.add(new Nic(mac, from.tap(), from.namespace(), to.tap(), to.namespace()));
        }
        return nics;
    }

    private static Map<String, AgentClient.DiscoveredNic> byMac(AgentClient.Discovered found, String side) {
        Map<String, AgentClient.DiscoveredNic> byMac = new LinkedHashMap<>();
        for (AgentClient.DiscoveredNic nic : found.nics()) {
            @Nullable String mac = nic.mac();
            if (mac == null) {
                continue; // QEMU picked the MAC itself; nothing names it on the other side
            }
            if (byMac.put(mac.toLowerCase(Locale.ROOT), nic) != null) {
                throw new NicsDoNotMatchException("two tap NICs with MAC " + mac + " on the " + side);
            }
        }
        return byMac;
    }
}
