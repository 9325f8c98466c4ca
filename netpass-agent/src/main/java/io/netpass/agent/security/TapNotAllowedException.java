package io.netpass.agent.security;

/** The request names an interface or namespace outside this agent's allow-lists. */
public class TapNotAllowedException extends RuntimeException {

    public TapNotAllowedException(String message) {
        super(message);
    }
}
