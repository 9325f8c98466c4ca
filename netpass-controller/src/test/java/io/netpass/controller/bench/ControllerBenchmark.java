package io.netpass.controller.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import io.netpass.controller.NetpassControllerApplication;
import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;
import io.netpass.controller.testing.SimulatedAgent;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * N concurrent migrations against simulated agents, with the controller in a process of its own (so its memory is
 * its own) and its production defaults (1s poll interval). Every migration is created, waits ARMED, gets
 * DESTINATION_RESUMED and is watched until COMPLETED and settled; all N are in flight at once. Prints API latency
 * percentiles per operation and the controller's RSS and heap. Run with bench/controller/run.sh [N] [hosts].
 */
public final class ControllerBenchmark {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Map<String, ConcurrentLinkedQueue<Long>> LATENCIES = new ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        int migrations = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int hosts = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        Path directory = Files.createTempDirectory("netpass-controller-bench");
        List<SimulatedAgent> agents = new ArrayList<>();
        for (int i = 0; i < hosts; i++) {
            agents.add(new SimulatedAgent("host-" + i, RunningController.AGENT_TOKEN,
                    new SimulatedAgent.Script(400, 20, 0, Duration.ofMillis(300))));
        }
        Map<String, Object> properties = RunningController.testProperties(directory, agents);
        int port = freePort();
        int management = freePort();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), NetpassControllerApplication.class.getName()));
        properties.forEach((key, value) -> {
            // Production timings, not the tests' short ones; only ports, tokens and agents come from the test setup.
            if (key.startsWith("netpass.controller.security.") && !key.endsWith("token-refresh")
                    || key.startsWith("netpass.controller.agents[")) {
                command.add("--" + key + "=" + value);
            }
        });
        command.addAll(List.of("--server.port=" + port, "--server.address=127.0.0.1",
                "--management.server.port=" + management, "--management.server.address=127.0.0.1",
                "--spring.main.banner-mode=off", "--logging.level.io.netpass=WARN"));
        Process controller = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(directory.resolve("controller.log").toFile()).start();
        try {
            WebClient api = client("http://127.0.0.1:" + port, migrations * 2);
            awaitHealthy("http://127.0.0.1:" + management);
            long rssIdle = rssKiB(controller.pid());
            // Warm-up: a first wave of migrations loads classes and lets the JIT compile the hot paths; its
            // latencies are printed apart ("cold"), the measured wave starts from a warm controller.
            int warmup = Math.max(1, migrations / 10);
            long coldStarted = System.nanoTime();
            Flux.range(0, warmup)
                    .flatMap(i -> oneMigration(api, "warmup-" + i, agents.get(i % hosts), agents.get((i + 1) % hosts)),
                            warmup)
                    .blockLast(Duration.ofMinutes(5));
            System.out.printf("warm-up: %d migrations in %d ms%n", warmup, (System.nanoTime() - coldStarted) / 1_000_000);
            LATENCIES.forEach((operation, values) -> print("cold " + operation, new ArrayList<>(values)));
            LATENCIES.clear();
            long started = System.nanoTime();
            Flux.range(0, migrations)
                    .flatMap(i -> oneMigration(api, "bench-" + i, agents.get(i % hosts), agents.get((i + 1) % hosts)),
                            migrations)
                    .blockLast(Duration.ofMinutes(5));
            long wallMillis = (System.nanoTime() - started) / 1_000_000;
            long rssAfter = rssKiB(controller.pid());
            long hwm = statusKiB(controller.pid(), "VmHWM:");
            JsonNode heap = JSON.readTree(WebClient.create("http://127.0.0.1:" + management).get()
                    .uri("/actuator/metrics/jvm.memory.used?tag=area:heap").retrieve().bodyToMono(String.class)
                    .block());
            JsonNode list = JSON.readTree(api.get().uri("/v1/migrations?limit=1000").retrieve()
                    .bodyToMono(String.class).block());
            long completed = 0;
            for (JsonNode migration : list.path("items")) {
                if (migration.path("id").asString().startsWith("bench-")
                        && "COMPLETED".equals(migration.path("state").asString())) {
                    completed++;
                }
            }
            System.out.printf("migrations: %d concurrent across %d simulated hosts; %d COMPLETED; wall %d ms%n",
                    migrations, hosts, completed, wallMillis);
            List<Long> all = new ArrayList<>();
            LATENCIES.forEach((operation, values) -> all.addAll(values));
            LATENCIES.entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(entry -> print(entry.getKey(), new ArrayList<>(entry.getValue())));
            print("all API calls", all);
            // The controller's own view (http.server.requests, warm-up included): time from request to response
            // inside the controller, without the client's and the network's queueing.
            for (String uri : List.of("/v1/migrations", "/v1/migrations/{migrationId}",
                    "/v1/migrations/{migrationId}/events")) {
                JsonNode server = JSON.readTree(WebClient.create("http://127.0.0.1:" + management).get()
                        .uri(builder -> builder.path("/actuator/metrics/http.server.requests")
                                .queryParam("tag", "{tag}").build("uri:" + uri))
                        .retrieve().bodyToMono(String.class).block());
                double count = 0;
                double total = 0;
                double max = 0;
                for (JsonNode measurement : server.path("measurements")) {
                    switch (measurement.path("statistic").asString()) {
                        case "COUNT" -> count = measurement.path("value").asDouble();
                        case "TOTAL_TIME" -> total = measurement.path("value").asDouble();
                        case "MAX" -> max = measurement.path("value").asDouble();
                        default -> { }
                    }
                }
                System.out.printf("server-side %-36s n=%-6.0f mean %7.2f ms  max %7.2f ms%n", uri, count,
                        count == 0 ? 0 : total / count * 1000, max * 1000);
            }
            System.out.printf("controller RSS: idle %d MiB, after %d MiB, peak (VmHWM) %d MiB; heap used %.0f MiB%n",
                    rssIdle / 1024, rssAfter / 1024, hwm / 1024,
                    heap.path("measurements").get(0).path("value").asDouble() / 1024 / 1024);
            System.out.printf("machine: %d CPUs visible to the JVM, %s; java %s%n",
                    Runtime.getRuntime().availableProcessors(), cpuModel(), System.getProperty("java.version"));
        } finally {
            controller.destroy();
            controller.waitFor();
            agents.forEach(SimulatedAgent::close);
        }
    }

    private static Mono<Void> oneMigration(WebClient api, String id, SimulatedAgent from, SimulatedAgent to) {
        Map<String, Object> body = ControllerLab.migration(id, "vm-" + id, from, to);
        return timed("create", api.post().uri("/v1/migrations").contentType(MediaType.APPLICATION_JSON)
                        .bodyValue(JSON.writeValueAsString(body)))
                .then(awaitState(api, id, "ARMED", false))
                .then(timed("event", api.post().uri("/v1/migrations/" + id + "/events")
                        .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"type\":\"DESTINATION_RESUMED\"}")))
                .then(awaitState(api, id, "COMPLETED", true));
    }

    private static Mono<Void> awaitState(WebClient api, String id, String state, boolean settled) {
        return timedBody("get", api.get().uri("/v1/migrations/" + id))
                .map(JSON::readTree)
                .filter(migration -> state.equals(migration.path("state").asString())
                        && (!settled || migration.path("settled").asBoolean()))
                .repeatWhenEmpty(200, repeats -> repeats.delayElements(Duration.ofMillis(100)))
                .switchIfEmpty(Mono.error(new IllegalStateException(id + " never reached " + state)))
                .then();
    }

    private static Mono<Void> timed(String operation, WebClient.RequestHeadersSpec<?> request) {
        return timedBody(operation, request).then();
    }

    private static Mono<String> timedBody(String operation, WebClient.RequestHeadersSpec<?> request) {
        return Mono.defer(() -> {
            long started = System.nanoTime();
            return request.retrieve().bodyToMono(String.class).doOnSuccess(ignored -> LATENCIES
                    .computeIfAbsent(operation, key -> new ConcurrentLinkedQueue<>())
                    .add(System.nanoTime() - started));
        });
    }

    private static void print(String operation, List<Long> nanos) {
        long[] sorted = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf("%-14s n=%-6d p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  max %6.2f ms%n", operation,
                sorted.length, percentile(sorted, 0.50), percentile(sorted, 0.95), percentile(sorted, 0.99),
                sorted.length == 0 ? 0 : sorted[sorted.length - 1] / 1e6);
    }

    private static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))] / 1e6;
    }

    private static WebClient client(String baseUrl, int connections) {
        HttpClient http = HttpClient.create(ConnectionProvider.builder("bench").maxConnections(connections).build());
        return WebClient.builder().baseUrl(baseUrl)
                .clientConnector(new org.springframework.http.client.reactive.ReactorClientHttpConnector(http))
                .defaultHeader(HttpHeaders.AUTHORIZATION, "Bearer " + RunningController.CALLER_TOKEN).build();
    }

    private static void awaitHealthy(String management) throws InterruptedException {
        WebClient client = WebClient.create(management);
        for (int i = 0; i < 600; i++) {
            try {
                String health = client.get().uri("/actuator/health").retrieve().bodyToMono(String.class)
                        .block(Duration.ofSeconds(1));
                if (health != null && health.contains("UP")) {
                    return;
                }
            } catch (RuntimeException e) {
                // not up yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("controller did not start");
    }

    private static long rssKiB(long pid) throws IOException {
        return statusKiB(pid, "VmRSS:");
    }

    private static long statusKiB(long pid, String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static String cpuModel() throws IOException {
        return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(line -> line.startsWith("model name"))
                .findFirst().map(line -> line.substring(line.indexOf(':') + 1).strip()).orElse("unknown CPU");
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private ControllerBenchmark() {
    }
}
