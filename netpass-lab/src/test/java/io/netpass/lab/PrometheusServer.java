package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import io.netpass.agent.testing.ChildProcesses;

/**
 * A Prometheus server of its own (Debian's {@code prometheus} package): its own configuration, data directory and
 * ephemeral loopback port, so that no packaged or other instance is involved. It scrapes the given targets every
 * {@link #SCRAPE_INTERVAL}.
 */
final class PrometheusServer implements AutoCloseable {

    static final Duration SCRAPE_INTERVAL = Duration.ofMillis(500);
    private static final Path BINARY = Path.of("/usr/bin/prometheus");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * Scrape targets of one job.
     *
     * @param job the job name
     * @param targets {@code host:port} to its static labels
     */
    record Job(String job, Map<String, Map<String, String>> targets) {
    }

    private final Process process;
    private final URI base;
    private final Path log;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private PrometheusServer(Process process, URI base, Path log) {
        this.process = process;
        this.base = base;
        this.log = log;
    }

    /** Starts Prometheus in {@code directory}, scraping {@code jobs} at {@code /actuator/prometheus}. */
    static PrometheusServer start(Path directory, List<Job> jobs) {
        if (!Files.isExecutable(BINARY)) {
            throw new IllegalStateException(BINARY + " missing: .ci/install.sh installs Debian's prometheus package");
        }
        try {
            Files.createDirectories(directory);
            Path config = directory.resolve("prometheus.yml");
            Files.writeString(config, configuration(jobs));
            int port = ChildProcesses.freeLoopbackPort();
            Path log = directory.resolve("prometheus.log");
            Process process = new ProcessBuilder(BINARY.toString(),
                    "--config.file=" + config,
                    "--storage.tsdb.path=" + directory.resolve("data"),
                    "--web.listen-address=127.0.0.1:" + port,
                    "--log.level=warn")
                    .redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            PrometheusServer server = new PrometheusServer(process, URI.create("http://127.0.0.1:" + port), log);
            try {
                server.awaitReady();
            } catch (RuntimeException | Error e) {
                server.close();
                throw e;
            }
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start prometheus", e);
        }
    }

    private static String configuration(List<Job> jobs) {
        StringBuilder yaml = new StringBuilder()
                .append("global:\n")
                .append("  scrape_interval: ").append(SCRAPE_INTERVAL.toMillis()).append("ms\n")
                .append("  scrape_timeout: ").append(SCRAPE_INTERVAL.toMillis() * 4 / 5).append("ms\n")
                .append("scrape_configs:\n");
        for (Job job : jobs) {
            yaml.append("  - job_name: ").append(job.job()).append('\n')
                    .append("    metrics_path: /actuator/prometheus\n")
                    .append("    static_configs:\n");
            job.targets().forEach((target, labels) -> {
                yaml.append("      - targets: ['").append(target).append("']\n");
                if (!labels.isEmpty()) {
                    yaml.append("        labels: {").append(labels.entrySet().stream()
                            .map(l -> l.getKey() + ": '" + l.getValue() + "'").collect(Collectors.joining(", ")))
                            .append("}\n");
                }
            });
        }
        return yaml.toString();
    }

    private void awaitReady() {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("prometheus exited with " + process.exitValue() + ": " + logText());
            }
            try {
                if (http.send(HttpRequest.newBuilder(base.resolve("/-/ready")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            ChildProcesses.sleep(Duration.ofMillis(200));
        }
        throw new IllegalStateException("prometheus not ready within " + START_TIMEOUT + ": " + logText());
    }

    /** {@code /api/v1/query_range} of {@code promql} from {@code start} to {@code end}: the {@code data} object. */
    JsonNode queryRange(String promql, Instant start, Instant end, Duration step) {
        return api("/api/v1/query_range?query=" + encode(promql) + "&start=" + seconds(start) + "&end="
                + seconds(end) + "&step=" + step.toMillis() / 1000.0);
    }

    /** {@code /api/v1/label/NAME/values} of the series of {@code match}. */
    JsonNode labelValues(String label, String match) {
        return api("/api/v1/label/" + label + "/values?match[]=" + encode(match));
    }

    /** The health of every scrape target, as {@code /api/v1/targets} reports it. */
    JsonNode targets() {
        return api("/api/v1/targets");
    }

    private JsonNode api(String pathAndQuery) {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + pathAndQuery))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode body = JSON.readTree(response.body());
            if (response.statusCode() != 200 || !body.path("status").asString().equals("success")) {
                throw new AssertionError(pathAndQuery + ": " + response.statusCode() + " " + response.body());
            }
            return body.path("data");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8);
    }

    private static String seconds(Instant instant) {
        return Double.toString(instant.toEpochMilli() / 1000.0);
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() {
        ChildProcesses.stop(process, Duration.ofSeconds(15));
    }


}
