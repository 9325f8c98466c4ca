package io.netpass.controller.migration;

/** The migration finished in a way the request cannot change (e.g. cancelling a completed one). */
public class MigrationFinishedException extends RuntimeException {

    public MigrationFinishedException(String id, MigrationState state) {
        super("migration '" + id + "' already finished: " + state);
    }
}
