package io.netpass.controller.migration;

/** The VM is already in another active migration. */
public class VmAlreadyMigratingException extends RuntimeException {

    public VmAlreadyMigratingException(String vm, String migrationId) {
        super("VM '" + vm + "' is already in active migration '" + migrationId + "'");
    }
}
