package io.netpass.agent.migration;

/** No session of that migration and role on this agent. */
public class SessionNotFoundException extends RuntimeException {

    public SessionNotFoundException(String migrationId, MigrationRole role) {
        super("no " + role.pathSegment() + " session for migration " + migrationId);
    }
}
