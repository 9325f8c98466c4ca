package io.netpass.lab;

import java.nio.file.Path;

/**
 * Where the migrating VM's network lives on each side: what netpass needs to arm the source tap and inject into the
 * destination tap.
 *
 * @param sourceNamespace the source host's network namespace ({@code /run/netns/...})
 * @param sourceTap the VM's tap on the source host
 * @param destinationNamespace the destination host's network namespace
 * @param destinationTap the VM's tap on the destination host
 * @param vmMac the VM's MAC address, lower case, colon separated
 */
public record MigrationEndpoints(Path sourceNamespace, String sourceTap, Path destinationNamespace,
        String destinationTap, String vmMac) {
}
