package io.netpass.agent.stream;

import java.util.Base64;

import org.springframework.http.HttpHeaders;

/**
 * What a destination asks of its source when it opens the frame stream: send the final count also as a
 * {@link FinalCountDatagram} to {@code port} on the address this stream comes from, sealed with {@code key}.
 */
public record FinalCountRequest(int port, byte[] key) {

    /** The UDP port, a header of the frame-stream request. */
    public static final String PORT_HEADER = "Netpass-Final-Count-Port";
    /** The key, base64, a header of the frame-stream request. */
    public static final String KEY_HEADER = "Netpass-Final-Count-Key";
    /** A base64 key of {@link FinalCountDatagram#KEY_BYTES} bytes. */
    public static final String KEY_PATTERN = "^[A-Za-z0-9+/]{43}=$";

    public FinalCountRequest {
        if (port < 1 || port > 65_535) {
            throw new IllegalArgumentException("UDP port " + port + " outside [1, 65535]");
        }
        if (key.length != FinalCountDatagram.KEY_BYTES) {
            throw new IllegalArgumentException("a final-count key has " + FinalCountDatagram.KEY_BYTES + " bytes");
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
