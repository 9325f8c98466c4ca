package io.netpass.agent.stream;

import java.util.Base64;

import org.springframework.http.HttpHeaders;

/**
 * What a destination asks of its source when it opens the frame stream: send the final count also as a
 * {@link PeerDatagram} to {@code port} on the address this stream comes from, sealed with {@code key}. The same key
 * seals the destination's release datagram, if the source answers with its {@link #RELEASE_PORT_HEADER}.
 */
public record FinalCountRequest(int port, byte[] key) {

    /** The UDP port, a header of the frame-stream request. */
    public static final String PORT_HEADER = "Netpass-Final-Count-Port";
    /** The key, base64, a header of the frame-stream request. */
    public static final String KEY_HEADER = "Netpass-Final-Count-Key";
    /**
     * The source's UDP port for the destination's release datagram, a header of the frame-stream response: the
     * source listens for it, sealed with this request's key, on its own host's address (docs/frame-stream.md).
     */
    public static final String RELEASE_PORT_HEADER = "Netpass-Release-Port";
    /** A base64 key of {@link PeerDatagram#KEY_BYTES} bytes. */
    public static final String KEY_PATTERN = "^[A-Za-z0-9+/]{43}=$";

    public FinalCountRequest {
        if (port < 1 || port > 65_535) {
            throw new IllegalArgumentException("UDP port " + port + " outside [1, 65535]");
        }
        if (key.length != PeerDatagram.KEY_BYTES) {
            throw new IllegalArgumentException("a final-count key has " + PeerDatagram.KEY_BYTES + " bytes");
        }
        key = key.clone();
    }

    /** From the request's headers, checked against {@link #KEY_PATTERN} by the caller. */
    public static FinalCountRequest of(int port, String base64Key) {
        return new FinalCountRequest(port, Base64.getDecoder().decode(base64Key));
    }

    void addTo(HttpHeaders headers) {
        headers.set(PORT_HEADER, Integer.toString(port));
        headers.set(KEY_HEADER, Base64.getEncoder().encodeToString(key));
    }
}
