package io.netpass.agent.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.jspecify.annotations.Nullable;

/**
 * HTTP/1.1 requests on one keep-alive connection, written in rounds: the requests of a round go in one write, so
 * each arrives before the answer to the one before it has been sent, which is what a client that sends its next
 * request the moment it has read an answer does, at its most extreme. Java's HttpClient cannot send them so; this
 * writes and parses the bytes itself.
 */
public final class PipelinedRequests {

    /** One request: method, path, and a JSON body or none. */
    public record Request(String method, String path, @Nullable String json) {
    }

    private PipelinedRequests() {
    }

    /**
     * Writes each round's requests in one go and reads their answers' status codes in order before writing the next
     * round, waiting at most {@code timeout} between two bytes; an answer that does not come ends the list early.
     */
    public static List<Integer> statuses(int port, String token, List<List<Request>> rounds, Duration timeout) {
        List<Integer> statuses = new ArrayList<>();
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), (int) timeout.toMillis());
            socket.setSoTimeout((int) timeout.toMillis());
            InputStream in = new BufferedInputStream(socket.getInputStream());
            for (List<Request> round : rounds) {
                socket.getOutputStream().write(bytes(port, token, round));
                socket.getOutputStream().flush();
                for (int i = 0; i < round.size(); i++) {
                    statuses.add(readResponse(in));
                }
            }
        } catch (SocketTimeoutException e) {
            return statuses;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return statuses;
    }

    private static byte[] bytes(int port, String token, List<Request> requests) {
        StringBuilder written = new StringBuilder();
        for (Request request : requests) {
            written.append(request.method()).append(' ').append(request.path()).append(" HTTP/1.1\r\n")
                    .append("Host: 127.0.0.1:").append(port).append("\r\n")
                    .append("Authorization: Bearer ").append(token).append("\r\n");
            if (request.json() != null) {
                byte[] body = request.json().getBytes(StandardCharsets.UTF_8);
                written.append("Content-Type: application/json\r\nContent-Length: ").append(body.length)
                        .append("\r\n\r\n").append(request.json());
            } else {
                written.append("\r\n");
            }
        }
        return written.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static int readResponse(InputStream in) throws IOException {
        String statusLine = line(in);
        int status = Integer.parseInt(statusLine.split(" ", 3)[1]);
        long length = 0;
        boolean chunked = false;
        for (String header = line(in); !header.isEmpty(); header = line(in)) {
            String lower = header.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:")) {
                length = Long.parseLong(lower.substring("content-length:".length()).strip());
            } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                chunked = true;
            }
        }
        if (chunked) {
            for (long chunk = Long.parseLong(line(in).strip(), 16); chunk > 0;
                    chunk = Long.parseLong(line(in).strip(), 16)) {
                in.readNBytes((int) chunk);
                line(in);
            }
            line(in);
        } else {
            in.readNBytes((int) length);
        }
        return status;
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b = in.read(); b != '\n'; b = in.read()) {
            if (b < 0) {
                throw new IOException("connection closed mid-answer");
            }
            if (b != '\r') {
                line.write(b);
            }
        }
        return line.toString(StandardCharsets.US_ASCII);
    }
}
