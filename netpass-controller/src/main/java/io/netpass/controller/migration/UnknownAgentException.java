package io.netpass.controller.migration;

import java.net.URI;

/** A migration names an agent the controller does not know, and only known agents may be used. */
public class UnknownAgentException extends RuntimeException {

    public UnknownAgentException(URI agent) {
        super("no known agent at " + agent + "; configure it in netpass.controller.agents or let it register");
    }
}
