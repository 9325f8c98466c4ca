package io.netpass.common.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

/**
 * Both services need a Reactor Netty that reads every request of a kept-alive HTTP/1.1 connection. 1.3.6 buffered a
 * request that arrived before the previous request's operations had ended and could then forget to read the
 * connection again (reactor-netty#4347, #4361): the next request was never answered. A client that sends its next
 * request as soon as it has the previous answer (an orchestrator polling a migration, the tests) does exactly that;
 * it hung a GET for 30 s in CI runs, in the controller and in the agent. The root pom pins a Reactor Netty with the
 * fix (1.3.8); this fails on 1.3.6 ({@code -Dreactor-bom.version=2025.0.6}). Here the first answer is sent while its
 * operations go on for 100 ms, the second request comes meanwhile, the third after.
 */
class KeepAliveConnectionTest {

    @Test
    void everyRequestOnAKeptAliveConnectionIsAnsweredThoughThePreviousOneHadNotEnded() throws IOException {
        DisposableServer server = HttpServer.create().host("127.0.0.1").port(0)
                .handle((request, response) -> {
                    // The whole answer (no body) goes at once; the slow request's operations go on for 100 ms.
                    response.header("Content-Length", "0");
                    Mono<Void> sent = response.then();
                    return request.uri().equals("/slow") ? sent.then(Mono.delay(Duration.ofMillis(100)).then()) : sent;
                })
                .bindNow(Duration.ofSeconds(10));
        List<String> answered = new ArrayList<>();
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(3000);
            for (String path : List.of("/slow", "/second", "/third", "/fourth")) {
                send(socket.getOutputStream(), path);
                try {
                    answered.add(path + " " + readResponse(socket.getInputStream()));
                } catch (SocketTimeoutException e) {
                    answered.add(path + " no answer in 3 s");
                    break;
                }
            }
        } finally {
            server.disposeNow(Duration.ofSeconds(5));
        }
        assertThat(answered).containsExactly("/slow 200", "/second 200", "/third 200", "/fourth 200");
    }

    private static void send(OutputStream out, String path) throws IOException {
        out.write(("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** The status of one response without a body. */
    private static String readResponse(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed after " + head);
            }
            head.append((char) b);
        }
        return head.substring(9, 12);
    }
}
