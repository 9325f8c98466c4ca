package io.netpass.controller.agents;

/** The side of a migration an agent holds. */
public enum AgentRole {
    SOURCE("source"),
    DESTINATION("destination");

    private final String pathSegment;

    AgentRole(String pathSegment) {
        this.pathSegment = pathSegment;
    }

    /** As in the agent's URLs and session documents. */
    public String pathSegment() {
        return pathSegment;
    }
}
