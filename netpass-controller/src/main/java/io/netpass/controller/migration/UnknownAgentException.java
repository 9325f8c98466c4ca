package io.netpass.controller.migration;

import java.net.URI;

/**
 * A migration names an agent the controller does not know: a name nobody configured or registered, or a URL when
 * only known agents may be used.
 */
public class UnknownAgentException extends RuntimeException {

    public UnknownAgentException(URI agent) {
        super("no known agent at " + agent + "; configure it in netpass.controller.agents or let it register");
    }

    /** No agent is configured or registered under {@code name}. */
    public UnknownAgentException(String name) {
        super("no agent named '" + name + "' is configured or registered");
    }
}
