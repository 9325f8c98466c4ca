package io.netpass.lab;

/**
 * Where a migration run lets netpass in. {@link #withoutNetpass()} does nothing, which gives the baseline.
 *
 * <p>Order within {@link QemuLab#migrateOnce}: the source VM runs and the probes flow, {@link #beforeMigration} is
 * called, QEMU's {@code migrate} is issued and followed until it completes, {@link #afterMigration} is called while the
 * source QEMU is still alive (paused, {@code postmigrate}) and the destination already runs, then the source QEMU
 * quits, as libvirt's confirm step would make it.
 */
public interface MigrationHooks {

    /** Called once the source VM answers probes and right before {@code migrate}: arm netpass here. */
    default void beforeMigration(MigrationEndpoints endpoints) {
    }

    /** Called as soon as QEMU reports the migration completed: tell netpass here. */
    default void afterMigration(MigrationEndpoints endpoints) {
    }

    /** The baseline: a migration with no netpass. */
    static MigrationHooks withoutNetpass() {
        return new MigrationHooks() {
            @Override
            public String toString() {
                return "without netpass";
            }
        };
    }
}
