package io.netpass.controller.migration;

/** No migration with this id (never created, or finished long enough ago to be forgotten). */
public class MigrationNotFoundException extends RuntimeException {

    public MigrationNotFoundException(String id) {
        super("no migration '" + id + "'");
    }
}
