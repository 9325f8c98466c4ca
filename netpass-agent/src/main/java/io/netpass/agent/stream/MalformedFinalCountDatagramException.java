package io.netpass.agent.stream;

/** A datagram received on the final-count port is not a final-count datagram sealed for an armed migration. */
public final class MalformedFinalCountDatagramException extends RuntimeException {

    MalformedFinalCountDatagramException(String problem) {
        super(problem);
    }
}
