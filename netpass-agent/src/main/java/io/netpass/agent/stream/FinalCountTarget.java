package io.netpass.agent.stream;

import java.net.InetSocketAddress;

/**
 * Where a source sends its final-count datagram, and the key it seals it with (and opens the destination's release
 * datagram with): a {@link FinalCountRequest} placed.
 */
public record FinalCountTarget(InetSocketAddress address, byte[] key) {

    public FinalCountTarget {
        key = key.clone();
    }

    /** A sealer for this target's one datagram, prepared ahead of the switchover. */
    public PeerDatagram.Sealer sealer(String migrationId) {
        return PeerDatagram.sealer(PeerDatagram.Kind.FINAL_COUNT, migrationId, key);
    }
}
