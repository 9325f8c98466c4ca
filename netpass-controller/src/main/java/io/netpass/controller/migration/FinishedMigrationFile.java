package io.netpass.controller.migration;

/**
 * A finished migration as its file in the state directory's {@code finished/} holds it: exactly what the API showed
 * once its agents were disarmed, report included.
 *
 * @param format the file's format; a controller skips files of a format newer than {@link #FORMAT}
 * @param migration the migration
 */
record FinishedMigrationFile(int format, MigrationSnapshot migration) {

    /** The format this controller writes and reads. */
    static final int FORMAT = 1;

    static FinishedMigrationFile of(MigrationSnapshot migration) {
        return new FinishedMigrationFile(FORMAT, migration);
    }
}
