package io.netpass.controller.agents;

import java.net.URI;

/** An agent tried to register under the name of a configured agent with another URL. */
public class AgentNameTakenException extends RuntimeException {

    public AgentNameTakenException(String name, URI configuredUrl) {
        super("agent name '" + name + "' is configured for " + configuredUrl);
    }
}
