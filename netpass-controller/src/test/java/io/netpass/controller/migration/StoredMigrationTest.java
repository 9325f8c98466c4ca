package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.net.URI;
import java.time.Instant;
import java.util.List;

import org.junit.jupiter.api.Test;

class StoredMigrationTest {

    private static final URI SOURCE = URI.create("http://127.0.0.1:7001");
    private static final URI DESTINATION = URI.create("http://127.0.0.1:7002");

    @Test
    void aMigrationStoredWhileDiscoveringComesBackDegradedAndSettlesWithoutAgents() {
        StoredMigration stored = new StoredMigration("d-1", null, "vm-1", SOURCE, DESTINATION,
                List.of(Nic.toDiscover("52:54:00:00:00:01")), Instant.now(), MigrationState.PENDING, null, null,
                null, VmLocator.libvirt("web-1"));

        Migration restored = stored.toMigration();

        assertThat(restored.state()).isEqualTo(MigrationState.DEGRADED);
        assertThat(restored.snapshot().reason()).isEqualTo("the controller restarted before discovery finished");
        assertThat(restored.discovered()).isFalse();
    }

    @Test
    void aDiscoveredMigrationComesBackArmedWithItsTaps() {
        Nic nic = new Nic("52:54:00:00:00:01", "vnet3", "/proc/1/ns/net", "vnet7", null);
        StoredMigration stored = new StoredMigration("d-2", null, "vm-2", SOURCE, DESTINATION, List.of(nic),
                Instant.now(), MigrationState.ARMED, null, Instant.now(), null, VmLocator.libvirt("web-2"));

        Migration restored = stored.toMigration();

        assertThat(restored.state()).isEqualTo(MigrationState.ARMED);
        assertThat(restored.nics()).containsExactly(nic);
        assertThat(restored.discover()).isEqualTo(VmLocator.libvirt("web-2"));
    }

    @Test
    void aNewMigrationNamesEitherTapsOrALocatorWithMacsOnly() {
        Nic full = new Nic("52:54:00:00:00:01", "tap0", null, "tap1", null);
        assertThat(new NewMigration(null, null, "vm", SOURCE, DESTINATION, List.of(), VmLocator.kubevirt("a", "b"))
                .discover()).isNotNull();
        assertThatIllegalArgumentException().isThrownBy(
                () -> new NewMigration(null, null, "vm", SOURCE, DESTINATION, List.of(), null));
        assertThatIllegalArgumentException().isThrownBy(
                () -> new NewMigration(null, null, "vm", SOURCE, DESTINATION, List.of(full), VmLocator.libvirt("x")));
        assertThatIllegalArgumentException().isThrownBy(
                () -> new VmLocator("x", new VmLocator.KubevirtVmi("a", "b")));
    }
}
