/**
 * A real-QEMU live-migration lab for end-to-end tests and the demo: a tiny Debian guest (built by
 * {@code lab/guest/build-guest.sh}) runs under TCG in a "host A" network namespace and is live-migrated to a
 * "host B" namespace while a client namespace probes it through a learning bridge, so what netpass changes can be
 * measured as probes lost, duplicated, reordered and the longest gap. {@link io.netpass.lab.QemuLab} builds
 * and tears down the lab; {@link io.netpass.lab.MigrationHooks} is where netpass is armed and told.
 */
@NullMarked
package io.netpass.lab;

import org.jspecify.annotations.NullMarked;
