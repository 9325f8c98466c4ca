package io.netpass.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.discovery.DiscoveredVm;
import io.netpass.agent.discovery.DiscoveryProperties;
import io.netpass.agent.discovery.VmDiscovery;
import io.netpass.agent.discovery.VmLocator;

/**
 * Discovery against the lab's real QEMUs: the booted source guest and the destination waiting for the migration
 * stream. Given a QEMU pid alone, the agent finds the tap, its namespace and the guest's MAC netpass is armed with.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class QemuDiscoveryIT {

    @Test
    void withAQemuPidAloneTheAgentFindsTheLabsTapNamespaceAndGuestMac() {
        VmDiscovery discovery = new VmDiscovery(new DiscoveryProperties(Path.of("/proc"),
                Path.of("/run/libvirt/qemu"), Path.of("/run/netns")));
        try (QemuLab lab = QemuLab.create()) {
            lab.bootSource();
            lab.startDestination();
            MigrationEndpoints expected = lab.endpoints();
            int sourcePid = Math.toIntExact(lab.sourceQemuPid().orElseThrow());
            int destinationPid = Math.toIntExact(lab.destinationQemuPid().orElseThrow());

            DiscoveredVm source = discovery.discover(new VmLocator(sourcePid, null, null));
            DiscoveredVm destination = discovery.discover(new VmLocator(destinationPid, null, null));

            assertThat(source.nics()).containsExactly(new DiscoveredVm.TapNic(expected.vmMac(),
                    expected.sourceTap(), expected.sourceNamespace().toString()));
            assertThat(destination.nics()).containsExactly(new DiscoveredVm.TapNic(expected.vmMac(),
                    expected.destinationTap(), expected.destinationNamespace().toString()));
            // The lab names its QEMUs with a bare -name, as a domain name.
            assertThat(discovery.discover(new VmLocator(null, "netpass-lab-" + lab.id() + "-src", null)))
                    .isEqualTo(source);
        }
    }
}
