package io.netpass.controller.agents;

import java.net.URI;

import org.jspecify.annotations.Nullable;

/** A call to an agent failed: no connection, no answer in time, or an error status (with the agent's detail). */
public class AgentCallException extends RuntimeException {

    private final AgentOperation operation;
    private final URI agent;
    private final int status;

    public AgentCallException(AgentOperation operation, URI agent, int status, String message,
            @Nullable Throwable cause) {
        super(operation.tag() + " on agent " + agent + " failed: " + message, cause);
        this.operation = operation;
        this.agent = agent;
        this.status = status;
    }

    public AgentOperation operation() {
        return operation;
    }

    public URI agent() {
        return agent;
    }

    /** The agent's HTTP status, or 0 if it did not answer. */
    public int status() {
        return status;
    }

    /** The agent answered that it holds no such session. */
    public boolean sessionNotFound() {
        return status == 404;
    }

    /** The agent answered at all (as opposed to a connection failure or a timeout). */
    public boolean answered() {
        return status != 0;
    }
}
