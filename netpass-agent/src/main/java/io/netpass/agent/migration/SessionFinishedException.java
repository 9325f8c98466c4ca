package io.netpass.agent.migration;

/** The session has finished and cannot do what was asked. */
public class SessionFinishedException extends RuntimeException {

    public SessionFinishedException(String migrationId, MigrationRole role, SessionState state) {
        super("the " + role.pathSegment() + " session of migration " + migrationId + " is " + state.name().toLowerCase());
    }
}
