package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.util.FileSystemUtils;

import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.ChildProcesses;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;
import io.netpass.helm.GrafanaDashboard;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chart's Grafana dashboard against the real services: a controller and two agents (separate JVMs) move a fake
 * VM while a client sends to it and a real Prometheus scrapes all three management ports. Every metric the dashboard
 * queries must be one the services export, and every panel's query, its variables filled in as Grafana would, must
 * return data for the migration.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DashboardIT {

    private static final Path WORK = Path.of("target", "it-e2e", "DashboardIT");
    private static final Path DASHBOARD_FILE = Path.of("..", "helm").resolve(GrafanaDashboard.FILE);
    private static final int RATE = 2_000;
    /** Long enough paused for several scrapes of the source's per-VM gauges while it keeps frames. */
    private static final Duration PAUSED = Duration.ofSeconds(3);
    /** What Grafana's $__rate_interval is at least: four scrape intervals. */
    private static final String RATE_INTERVAL = "4s";
    private static final EthernetAddress MAC = EthernetAddress.of("52:54:00:6e:72:31");

    private static NamespaceLab lab;
    private static AgentProcess sourceAgent;
    private static AgentProcess destinationAgent;
    private static ControllerProcess controller;
    private static PrometheusServer prometheus;
    private static FrameSender sender;
    private static Instant migrationStarted;
    private static Instant migrationSettled;
    private static JsonNode migration;
    /** Every metric name the three services exported, read while the sessions were armed and after they settled. */
    private static final Set<String> exported = new TreeSet<>();

    @BeforeAll
    static void migrateWhilePrometheusScrapes() throws Exception {
        FileSystemUtils.deleteRecursively(WORK);
        Files.createDirectories(WORK);
        Path agentToken = Files.writeString(WORK.resolve("controller-to-agents.token"),
                "controller-" + Long.toHexString(System.nanoTime()) + "\n");
        String[] agentArguments = {
            "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
            "--netpass.agent.forwarding.forward-frame-held-by-vmm=false",
        };
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", WORK,
                agentArguments));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> AgentProcess.start("b", WORK,
                agentArguments));
        lab = new NamespaceLab();
        Host sourceHost = lab.host("src");
        Host destinationHost = lab.host("dst");
        lab.connect(sourceHost, destinationHost);
        Client client = lab.client("cl", sourceHost);
        sender = client.sender();
        sourceAgent = a.get(2, TimeUnit.MINUTES);
        destinationAgent = b.get(2, TimeUnit.MINUTES);
        Map<String, URI> agents = new LinkedHashMap<>();
        agents.put("host-a", sourceAgent.baseUri());
        agents.put("host-b", destinationAgent.baseUri());
        controller = ControllerProcess.start(WORK.resolve("controller"), agentToken, agents);

        // The agents' series carry node, as the chart's PodMonitor relabels them.
        Map<String, Map<String, String>> agentTargets = new LinkedHashMap<>();
        agentTargets.put(hostPort(sourceAgent), Map.of("node", "host-a"));
        agentTargets.put(hostPort(destinationAgent), Map.of("node", "host-b"));
        prometheus = PrometheusServer.start(WORK.resolve("prometheus"), List.of(
                new PrometheusServer.Job("netpass-agent", agentTargets),
                new PrometheusServer.Job("netpass-controller",
                        Map.of("127.0.0.1:" + controller.managementPort(), Map.of()))));
        awaitTargetsUp();

        migrationStarted = Instant.now();
        migration = migrate(sourceHost, destinationHost, client.trafficTo(MAC));
        // The final counters and the disarmed sessions, scraped a few times.
        ChildProcesses.sleep(PrometheusServer.SCRAPE_INTERVAL.multipliedBy(6));
        migrationSettled = Instant.now();
        readExportedMetrics();
    }

    private static String hostPort(AgentProcess agent) {
        URI management = agent.management("/");
        return management.getHost() + ":" + management.getPort();
    }

    private static void awaitTargetsUp() {
        JsonNode[] last = new JsonNode[1];
        await(Duration.ofSeconds(20), () -> {
            last[0] = prometheus.targets().path("activeTargets");
            return last[0].size() == 3 && last[0].valueStream().allMatch(t -> t.path("health").asString()
                    .equals("up"));
        }, () -> last[0]);
    }

    /** One VM from tap tapa31 on the source host to tapb31 on the destination, with traffic throughout. */
    private static JsonNode migrate(Host sourceHost, Host destinationHost, SequencedTraffic traffic) {
        FakeVm sourceVm = sourceHost.startVm("tapa31", MAC);
        FakeVm destinationVm = destinationHost.startVm("tapb31", MAC);
        sourceHost.ip("link", "set", "tapa31", "txqueuelen", "16384");
        sourceVm.announce();
        assertThat(destinationVm.awaitFrames(1, Duration.ofSeconds(5))).hasSize(1);
        destinationVm.pause();
        var created = controller.call("POST", "/v1/migrations", Map.of(
                "id", "dashboard",
                "vm", "vm-dashboard",
                "sourceAgent", sourceAgent.baseUri().toString(),
                "destinationAgent", destinationAgent.baseUri().toString(),
                "nics", List.of(Map.of(
                        "mac", MAC.toString(),
                        "sourceTap", "tapa31",
                        "sourceNamespace", sourceHost.namespace().path().toString(),
                        "destinationTap", "tapb31",
                        "destinationNamespace", destinationHost.namespace().path().toString()))));
        assertThat(created.status()).as("%s", created).isEqualTo(202);
        await(Duration.ofSeconds(20), () -> controller.migration("dashboard").path("state").asString()
                .equals("ARMED"), () -> controller.migration("dashboard"));

        AtomicBoolean sending = new AtomicBoolean(true);
        Thread client = Thread.ofPlatform().name("dashboard-traffic").daemon().start(() -> {
            long due = System.nanoTime();
            for (long sequence = 0; sending.get(); sequence++) {
                LockSupport.parkNanos(due - System.nanoTime());
                sender.send(traffic.frame(sequence));
                due += TimeUnit.SECONDS.toNanos(1) / RATE;
            }
        });
        try {
            ChildProcesses.sleep(Duration.ofSeconds(1));
            sourceVm.pause();
            event("SOURCE_PAUSED");
            ChildProcesses.sleep(PAUSED.dividedBy(2));
            // Per-session gauges exist only while their session is armed.
            readExportedMetrics();
            ChildProcesses.sleep(PAUSED.dividedBy(2));
            destinationVm.resume();
            destinationVm.announce();
            event("DESTINATION_RESUMED");
            ChildProcesses.sleep(Duration.ofSeconds(1));
        } finally {
            sending.set(false);
            try {
                client.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        event("COMPLETED");
        JsonNode[] last = new JsonNode[1];
        await(Duration.ofSeconds(45), () -> {
            last[0] = controller.migration("dashboard");
            return last[0].path("settled").asBoolean();
        }, () -> last[0]);
        sourceVm.close();
        destinationVm.close();
        return last[0];
    }

    private static void event(String type) {
        var response = controller.call("POST", "/v1/migrations/dashboard/events",
                Map.of("type", type));
        assertThat(response.status()).as("%s: %s", type, response).isEqualTo(202);
    }

    @AfterAll
    static void stopEverything() {
        for (AutoCloseable closeable : new AutoCloseable[] {prometheus, controller, sourceAgent, destinationAgent,
            sender, lab}) {
            if (closeable != null) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    System.out.println("closing " + closeable + ": " + e);
                }
            }
        }
    }

    @Test
    void theMigrationSavedFramesSoThePanelsHaveSomethingToShow() {
        assertThat(migration.path("state").asString()).as("%s", migration).isEqualTo("COMPLETED");
        assertThat(migration.path("report").path("framesSaved").asLong()).as("%s", migration).isPositive();
    }

    private static void readExportedMetrics() {
        exported.addAll(exportedMetrics(sourceAgent.management("/actuator/prometheus")));
        exported.addAll(exportedMetrics(destinationAgent.management("/actuator/prometheus")));
        exported.addAll(exportedMetrics(URI.create("http://127.0.0.1:" + controller.managementPort()
                + "/actuator/prometheus")));
    }

    @Test
    void everyMetricTheDashboardQueriesIsExportedByTheServices() {
        assertThat(exported).contains("netpass_agent_session_kept_frames", "netpass_controller_migrations_total");
        Set<String> queried = GrafanaDashboard.read(DASHBOARD_FILE).metricNames();
        assertThat(queried).isNotEmpty();
        Set<String> missing = new TreeSet<>(queried);
        missing.removeAll(exported);
        assertThat(missing).as("queried by the dashboard but exported by no service").isEmpty();
    }

    @Test
    void theNodeVariableListsBothAgentsNodes() {
        GrafanaDashboard dashboard = GrafanaDashboard.read(DASHBOARD_FILE);
        assertThat(dashboard.variableQueries()).containsExactly("label_values(netpass_agent_sessions_active, node)");
        assertThat(prometheus.labelValues("node", "netpass_agent_sessions_active").valueStream()
                .map(JsonNode::asString)).containsExactlyInAnyOrder("host-a", "host-b");
    }

    @Test
    void everyPanelsQueryReturnsDataForTheMigration() {
        GrafanaDashboard dashboard = GrafanaDashboard.read(DASHBOARD_FILE);
        Instant start = migrationStarted.minusSeconds(5);
        Instant end = migrationSettled.plusSeconds(1);
        Map<String, String> variables = Map.of(
                "node", ".*",
                "__rate_interval", RATE_INTERVAL,
                "__range", Duration.between(start, end).toSeconds() + "s");
        List<String> empty = new ArrayList<>();
        for (GrafanaDashboard.Query query : dashboard.queries()) {
            String promql = GrafanaDashboard.substitute(query.expr(), variables);
            JsonNode result = prometheus.queryRange(promql, start, end, Duration.ofSeconds(1)).path("result");
            long points = result.valueStream().flatMap(series -> series.path("values").valueStream())
                    .filter(point -> !point.get(1).asString().equals("NaN")).count();
            System.out.printf("%-40s %s: %d series, %d points%n", query.panel(), query.refId(), result.size(), points);
            if (points == 0) {
                empty.add(query.panel() + " " + query.refId() + ": " + promql);
            }
        }
        assertThat(empty).as("queries without data").isEmpty();
    }

    /** The metric names in a Prometheus text exposition: every sample's name. */
    private static Set<String> exportedMetrics(URI uri) {
        try {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri)
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as("%s", uri).isEqualTo(200);
            Set<String> names = new TreeSet<>();
            response.body().lines().filter(line -> !line.isBlank() && !line.startsWith("#"))
                    .map(line -> line.split("[{ ]", 2)[0]).forEach(names::add);
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void await(Duration timeout, BooleanSupplier condition, Supplier<Object> state) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + timeout + ": " + state.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        }
    }
}
