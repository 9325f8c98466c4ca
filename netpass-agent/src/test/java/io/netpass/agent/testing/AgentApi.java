package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.net.ssl.SSLContext;

import org.jspecify.annotations.Nullable;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * What the controller says to one agent, over HTTP/1.1 on loopback (agents talk h2c to each other; the controller's
 * protocol does not matter to these tests). Every response is checked against {@link AgentContract}.
 */
public final class AgentApi {

    public static final String ARM_SOURCE = "/v1/migrations/{migrationId}/source";
    public static final String ARM_DESTINATION = "/v1/migrations/{migrationId}/destination";
    public static final String SESSION = "/v1/migrations/{migrationId}/{role}";
    public static final String EVENTS = "/v1/migrations/{migrationId}/events";
    public static final String SESSIONS = "/v1/sessions";
    public static final String DISCOVERY = "/v1/discovery";
    public static final String PEER_FRAMES = "/v1/peer/migrations/{migrationId}/frames";
    public static final String PEER_RELEASE = "/v1/peer/migrations/{migrationId}/release";

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final HttpClient PLAIN = client(null);

    private final URI base;
    private final @Nullable String token;
    private final HttpClient http;

    public AgentApi(URI base, @Nullable String token) {
        this(base, token, PLAIN);
    }

    /** A client of an agent at an {@code https} {@code base}, over TLS set up by {@code tls}. */
    public AgentApi(URI base, @Nullable String token, SSLContext tls) {
        this(base, token, client(tls));
    }

    private AgentApi(URI base, @Nullable String token, HttpClient http) {
        this.base = base;
        this.token = token;
        this.http = http;
    }

    private static HttpClient client(@Nullable SSLContext tls) {
        HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5));
        return (tls == null ? builder : builder.sslContext(tls)).build();
    }

    /** The same agent, presenting {@code otherToken} instead ({@code null}: no Authorization header). */
    public AgentApi withToken(@Nullable String otherToken) {
        return new AgentApi(base, otherToken, http);
    }

    /** One answer of the agent. */
    public record Response(int status, @Nullable String contentType, String body) {

        public JsonNode json() {
            return JSON.readTree(body);
        }

        public boolean problem() {
            return contentType != null && contentType.startsWith("application/problem+json");
        }

        @Override
        public String toString() {
            return status + " " + contentType + " " + body;
        }
    }

    /** Arms the source side of {@code migrationId}. */
    public Response armSource(String migrationId, String tap, @Nullable String namespace, List<String> vmMacs) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("tap", tap);
        body.put("namespace", namespace);
        body.put("vmMacs", vmMacs);
        return put(ARM_SOURCE, migrationId, JSON.writeValueAsString(body));
    }

    /** Arms the destination side of {@code migrationId}, pulling from {@code sourceAgent}. */
    public Response armDestination(String migrationId, String tap, @Nullable String namespace, List<String> vmMacs,
            URI sourceAgent) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("tap", tap);
        body.put("namespace", namespace);
        body.put("vmMacs", vmMacs);
        body.put("sourceAgent", sourceAgent.toString());
        return put(ARM_DESTINATION, migrationId, JSON.writeValueAsString(body));
    }

    /** PUT of a raw body to an arm endpoint. */
    public Response put(String template, String migrationId, String jsonBody) {
        return request("PUT", template, expand(template, migrationId, null), jsonBody);
    }

    /** One side's status; fails unless 200. */
    public JsonNode session(String migrationId, String role) {
        return ok(request("GET", SESSION, expand(SESSION, migrationId, role), null)).json();
    }

    /** Every session; fails unless 200. */
    public JsonNode sessions() {
        return ok(request("GET", SESSIONS, SESSIONS, null)).json();
    }

    public Response disarm(String migrationId, String role) {
        return request("DELETE", SESSION, expand(SESSION, migrationId, role), null);
    }

    public Response event(String migrationId, String type) {
        return request("POST", EVENTS, expand(EVENTS, migrationId, null), "{\"type\":\"" + type + "\"}");
    }

    /** Asks the agent to find a VM: {@code locator} is the JSON body, e.g. {@code {"qemuPid": 42}}. */
    public Response discover(String locator) {
        return request("POST", DISCOVERY, DISCOVERY, locator);
    }

    /** A destination's signal that its VM runs, releasing the frames to the stream it holds open. */
    public Response release(String migrationId) {
        return request("POST", PEER_RELEASE, expand(PEER_RELEASE, migrationId, null), null);
    }

    /** A pull as a peer would make it, read whole (for refusals: an accepted pull streams until its END). */
    public Response pull(String migrationId, long after) {
        return pull(migrationId, after, Map.of());
    }

    /** As {@link #pull(String, long)}, with {@code headers} added to the request. */
    public Response pull(String migrationId, long after, Map<String, String> headers) {
        return request("GET", PEER_FRAMES, expand(PEER_FRAMES, migrationId, null) + "?after=" + after, null, null,
                headers);
    }

    /**
     * Sends {@code method path} with {@code jsonBody} (none if null) and checks the answer against operation
     * {@code method template} of the contract.
     */
    public Response request(String method, String template, String path, @Nullable String jsonBody) {
        return request(method, template, path, jsonBody, jsonBody == null ? null : "application/json");
    }

    /** As {@link #request(String, String, String, String)}, with the body's content type given (none if null). */
    public Response request(String method, String template, String path, @Nullable String body,
            @Nullable String contentType) {
        return request(method, template, path, body, contentType, Map.of());
    }

    private Response request(String method, String template, String path, @Nullable String body,
            @Nullable String contentType, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).timeout(TIMEOUT)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(request::header);
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            Response answer = new Response(response.statusCode(),
                    response.headers().firstValue("Content-Type").orElse(null), response.body());
            AgentContract.load().check(method, template, answer.status(), answer.contentType(), answer.body());
            return answer;
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Response ok(Response response) {
        if (response.status() != 200) {
            throw new AssertionError("expected 200, got " + response);
        }
        return response;
    }

    private static String expand(String template, String migrationId, @Nullable String role) {
        String path = template.replace("{migrationId}", migrationId);
        return role == null ? path : path.replace("{role}", role);
    }
}
