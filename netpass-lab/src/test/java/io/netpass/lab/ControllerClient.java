package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

import org.jspecify.annotations.Nullable;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * An orchestrator's client of a running controller's REST API, over HTTP/1.1, presenting a caller token: what the
 * end-to-end tests drive migrations with, whether the controller runs as a process or in a container.
 */
public final class ControllerClient {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * One answer of the controller.
     *
     * @param status the HTTP status
     * @param body the body as text
     */
    public record Response(int status, String body) {

        public JsonNode json() {
            return JSON.readTree(body);
        }

        @Override
        public String toString() {
            return status + " " + body;
        }
    }

    private final URI base;
    private final String callerToken;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();

    /** A client of the controller API at {@code base} (e.g. {@code http://127.0.0.1:7080}). */
    public ControllerClient(URI base, String callerToken) {
        this.base = base;
        this.callerToken = callerToken;
    }

    /**
     * {@code method path} with {@code body} (JSON, none if null). A call without an answer in 10 s fails: the
     * controller answers every call at once, and a kept-alive connection that stalls is a bug (docs/controller.md,
     * Reactor Netty 1.3.8), not something to try again.
     */
    public Response call(String method, String path, @Nullable Object body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path))
                .timeout(CALL_TIMEOUT)
                .header("Authorization", "Bearer " + callerToken)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        if (body != null) {
            request.header("Content-Type", "application/json");
        }
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            return new Response(response.statusCode(), response.body());
        } catch (HttpTimeoutException e) {
            throw new UncheckedIOException(method + " " + path + ": no answer within " + CALL_TIMEOUT.toMillis()
                    + " ms from " + base, e);
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** {@code GET /v1/migrations/ID}; fails unless 200. */
    public JsonNode migration(String id) {
        Response response = call("GET", "/v1/migrations/" + id, null);
        if (response.status() != 200) {
            throw new AssertionError("GET migration " + id + ": " + response);
        }
        return response.json();
    }

    @Override
    public String toString() {
        return "controller at " + base;
    }
}
