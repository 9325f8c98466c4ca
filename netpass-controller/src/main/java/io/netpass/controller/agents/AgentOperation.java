package io.netpass.controller.agents;

/** The calls the controller makes to agents; the {@code operation} tag of the agent call timer. */
public enum AgentOperation {
    ARM_SOURCE("arm-source"),
    ARM_DESTINATION("arm-destination"),
    GET_SESSION("get-session"),
    DISARM("disarm"),
    EVENT("event"),
    LIST_SESSIONS("list-sessions"),
    DISCOVER("discover");

    private final String tag;

    AgentOperation(String tag) {
        this.tag = tag;
    }

    public String tag() {
        return tag;
    }
}
