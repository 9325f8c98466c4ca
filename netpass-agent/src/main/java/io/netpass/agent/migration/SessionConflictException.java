package io.netpass.agent.migration;

/** The migration already has a session in that role, armed differently. */
public class SessionConflictException extends RuntimeException {

    public SessionConflictException(String migrationId, MigrationRole role) {
        super("migration " + migrationId + " already has a " + role.pathSegment() + " session armed with other settings");
    }
}
