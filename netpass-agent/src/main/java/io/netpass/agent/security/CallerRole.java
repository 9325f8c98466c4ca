package io.netpass.agent.security;

/** Who a request comes from, as its token says. */
public enum CallerRole {
    /** The netpass controller: arms, disarms, reports events. */
    CONTROLLER,
    /** Another agent: pulls kept frames. */
    PEER
}
