package io.netpass.agent.stream;

/**
 * A datagram received on the final-count port is not a {@link PeerDatagram} of the kind expected, sealed for an
 * armed migration.
 */
public final class MalformedPeerDatagramException extends RuntimeException {

    MalformedPeerDatagramException(String problem) {
        super(problem);
    }
}
