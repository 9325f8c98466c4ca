package io.netpass.controller.testing;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import io.netpass.controller.NetpassControllerApplication;
import io.netpass.controller.contract.ContractRecorder;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The controller started in this JVM as a Spring application on loopback ports, with token files, the given agents
 * configured statically and short test timings; and a client that calls it with a caller token and checks every
 * response against the contract.
 */
public final class RunningController implements AutoCloseable {

    public static final String CALLER_TOKEN = "caller-token-1";
    public static final String AGENT_TOKEN = "agent-token-1";
    public static final String REGISTRATION_TOKEN = "registration-token-1";

    /** A response: status, content type, body as text and JSON (if it is JSON), and how long the call took. */
    public record Response(int status, @Nullable String contentType, String body, @Nullable JsonNode json,
            HttpHeaders headers, Duration took) {

        public JsonNode json() {
            if (json == null) {
                throw new AssertionError("not JSON: " + status + " " + contentType + " " + body);
            }
            return json;
        }

        public boolean isProblem() {
            return contentType != null && contentType.startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
        }
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    private final ConfigurableApplicationContext context;
    private final WebClient client;
    private final String baseUrl;

    private RunningController(ConfigurableApplicationContext context, ContractRecorder recorder) {
        this.context = context;
        this.baseUrl = "http://127.0.0.1:" + context.getEnvironment().getProperty("local.server.port");
        this.client = WebClient.builder().baseUrl(baseUrl).filter(recorder)
                .codecs(codecs -> codecs.defaultCodecs().maxInMemorySize(16 * 1024 * 1024))
                .build();
    }

    /** Writes the token files into {@code directory} and returns the properties a test controller needs. */
    public static Map<String, Object> testProperties(Path directory, List<SimulatedAgent> agents) throws IOException {
        Path caller = Files.writeString(directory.resolve("caller-tokens"), "# orchestrators\n" + CALLER_TOKEN + "\n");
        Path agent = Files.writeString(directory.resolve("agent-token"), AGENT_TOKEN + "\n");
        Path registration = Files.writeString(directory.resolve("registration-tokens"), REGISTRATION_TOKEN + "\n");
        Map<String, Object> properties = new LinkedHashMap<>();
        properties.put("server.port", 0);
        properties.put("server.address", "127.0.0.1");
        properties.put("management.server.port", 0);
        properties.put("management.server.address", "127.0.0.1");
        properties.put("netpass.controller.security.caller-token-file", caller.toString());
        properties.put("netpass.controller.security.agent-token-file", agent.toString());
        properties.put("netpass.controller.security.agent-registration-token-file", registration.toString());
        properties.put("netpass.controller.security.token-refresh", "200ms");
        properties.put("netpass.controller.agent-calls.connect-timeout", "200ms");
        properties.put("netpass.controller.agent-calls.response-timeout", "400ms");
        properties.put("netpass.controller.coordination.poll-interval", "100ms");
        properties.put("netpass.controller.coordination.agent-lost-after", "2s");
        properties.put("netpass.controller.recovery.interval", "500ms");
        properties.put("netpass.controller.api.agent-wait", "300ms");
        properties.put("spring.main.banner-mode", "off");
        for (int i = 0; i < agents.size(); i++) {
            properties.put("netpass.controller.agents[" + i + "].name", agents.get(i).name());
            properties.put("netpass.controller.agents[" + i + "].base-url", agents.get(i).baseUrl().toString());
        }
        return properties;
    }

    public static RunningController start(Map<String, Object> properties, ContractRecorder recorder) {
        // As command-line arguments: they win over application.yaml (default properties would lose to it).
        String[] arguments = properties.entrySet().stream()
                .map(entry -> "--" + entry.getKey() + "=" + entry.getValue()).toArray(String[]::new);
        ConfigurableApplicationContext context = new SpringApplicationBuilder(NetpassControllerApplication.class)
                .run(arguments);
        return new RunningController(context, recorder);
    }

    public ConfigurableApplicationContext context() {
        return context;
    }

    public String baseUrl() {
        return baseUrl;
    }

    public String managementUrl() {
        return "http://127.0.0.1:" + context.getEnvironment().getProperty("local.management.port");
    }

    public WebClient client() {
        return client;
    }

    public Response call(HttpMethod method, String path, @Nullable Object body) {
        return call(method, path, body, CALLER_TOKEN, Map.of());
    }

    public Response call(HttpMethod method, String path, @Nullable Object body, @Nullable String token,
            Map<String, String> headers) {
        long started = System.nanoTime();
        WebClient.RequestBodySpec request = client.method(method).uri(path);
        if (token != null) {
            request.header(HttpHeaders.AUTHORIZATION, "Bearer " + token);
        }
        headers.forEach(request::header);
        if (body instanceof String text) {
            request.contentType(MediaType.APPLICATION_JSON).bodyValue(text);
        } else if (body != null) {
            request.contentType(MediaType.APPLICATION_JSON).bodyValue(JSON.writeValueAsString(body));
        }
        return request.exchangeToMono(response -> response.bodyToMono(String.class).defaultIfEmpty("")
                        .map(text -> {
                            String contentType = response.headers().asHttpHeaders()
                                    .getFirst(HttpHeaders.CONTENT_TYPE);
                            JsonNode json = contentType != null && contentType.contains("json") && !text.isEmpty()
                                    ? JSON.readTree(text) : null;
                            return new Response(response.statusCode().value(), contentType, text, json,
                                    response.headers().asHttpHeaders(),
                                    Duration.ofNanos(System.nanoTime() - started));
                        }))
                .timeout(CALL_TIMEOUT, Mono.error(() -> new AssertionError(method + " " + path
                        + ": no answer in " + CALL_TIMEOUT + "; the threads now:\n" + threadDump())))
                .block();
    }

    /**
     * Every thread's state and top frames: a call without an answer is told apart as a blocked event loop, a held
     * lock or a lost connection.
     */
    private static String threadDump() {
        StringBuilder dump = new StringBuilder();
        for (ThreadInfo thread : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
            dump.append('"').append(thread.getThreadName()).append("\" ").append(thread.getThreadState());
            if (thread.getLockName() != null) {
                dump.append(" on ").append(thread.getLockName()).append(" held by ").append(thread.getLockOwnerName());
            }
            dump.append('\n');
            StackTraceElement[] frames = thread.getStackTrace();
            for (int i = 0; i < Math.min(frames.length, 12); i++) {
                dump.append("    at ").append(frames[i]).append('\n');
            }
        }
        return dump.toString();
    }

    /** Closes the application context: the controller stops as a killed pod would, leaving the agents armed. */
    @Override
    public void close() {
        context.close();
    }
}
