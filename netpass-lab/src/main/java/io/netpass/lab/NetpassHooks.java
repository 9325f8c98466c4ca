package io.netpass.lab;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A migration with netpass: before it, the source agent arms the source tap and the destination agent the
 * destination tap; the destination agent then notices the destination VM running by itself and pulls the kept frames.
 * After it, the hooks wait for forwarding to finish, keep both sessions' final status and disarm them.
 */
public final class NetpassHooks implements MigrationHooks {

    private static final Logger log = LoggerFactory.getLogger(NetpassHooks.class);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration FORWARDING_TIMEOUT = Duration.ofSeconds(15);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final AgentProcess sourceAgent;
    private final AgentProcess destinationAgent;
    private final AgentTokens tokens;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final String migrationId = "lab-" + UUID.randomUUID().toString().substring(0, 8);
    private @Nullable JsonNode sourceSession;
    private @Nullable JsonNode destinationSession;

    public NetpassHooks(AgentProcess sourceAgent, AgentProcess destinationAgent, AgentTokens tokens) {
        this.sourceAgent = sourceAgent;
        this.destinationAgent = destinationAgent;
        this.tokens = tokens;
    }

    @Override
    public void beforeMigration(MigrationEndpoints endpoints) {
        call(destinationAgent, "PUT", "/v1/migrations/" + migrationId + "/destination", """
                {"tap":"%s","namespace":"%s","vmMacs":["%s"],"sourceAgent":"%s"}"""
                .formatted(endpoints.destinationTap(), endpoints.destinationNamespace(), endpoints.vmMac(),
                        sourceAgent.baseUrl()));
        call(sourceAgent, "PUT", "/v1/migrations/" + migrationId + "/source", """
                {"tap":"%s","namespace":"%s","vmMacs":["%s"]}"""
                .formatted(endpoints.sourceTap(), endpoints.sourceNamespace(), endpoints.vmMac()));
        log.info("{}: armed source on {} and destination on {}", migrationId, sourceAgent.name(),
                destinationAgent.name());
    }

    @Override
    public void afterMigration(MigrationEndpoints endpoints) {
        long deadline = System.nanoTime() + FORWARDING_TIMEOUT.toNanos();
        JsonNode destination = session(destinationAgent, "destination");
        while (!finished(destination) && System.nanoTime() < deadline) {
            sleep(20);
            destination = session(destinationAgent, "destination");
        }
        destinationSession = destination;
        sourceSession = session(sourceAgent, "source");
        log.info("{}: source {} / destination {}", migrationId, sourceSession, destinationSession);
        call(sourceAgent, "DELETE", "/v1/migrations/" + migrationId + "/source", null);
        call(destinationAgent, "DELETE", "/v1/migrations/" + migrationId + "/destination", null);
    }

    private static boolean finished(JsonNode session) {
        String state = session.path("state").asString("");
        return state.equals("completed") || state.equals("failed") || state.equals("aborted");
    }

    /** The source session's final status, once the migration is over. */
    public @Nullable JsonNode sourceSession() {
        return sourceSession;
    }

    /** The destination session's final status, once the migration is over. */
    public @Nullable JsonNode destinationSession() {
        return destinationSession;
    }

    private JsonNode session(AgentProcess agent, String role) {
        return JSON.readTree(call(agent, "GET", "/v1/migrations/" + migrationId + "/" + role, null));
    }

    private String call(AgentProcess agent, String method, String path, @Nullable String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(agent.baseUrl() + path))
                .timeout(CALL_TIMEOUT)
                .header("Authorization", "Bearer " + tokens.controller())
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() >= 300) {
                throw new IllegalStateException(method + " " + path + " on agent " + agent.name() + " answered "
                        + response.statusCode() + ": " + response.body());
            }
            return response.body();
        } catch (IOException e) {
            throw new IllegalStateException(method + " " + path + " on agent " + agent.name() + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "with netpass";
    }
}
