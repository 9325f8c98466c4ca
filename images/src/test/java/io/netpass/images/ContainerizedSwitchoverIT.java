package io.netpass.images;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;

import com.github.dockerjava.api.model.Capability;
import com.github.dockerjava.api.model.Device;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.util.FileSystemUtils;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.Transferable;
import org.testcontainers.lifecycle.Startables;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.PacedTraffic;
import io.netpass.agent.testing.SequencedDelivery;
import io.netpass.lab.AgentTokens;
import io.netpass.lab.ControllerClient;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The images as they run: the controller and two agents as containers on one Docker network, each agent container
 * standing in for a hypervisor host, with a bridge, a tap and a fake VM in its network namespace. The test, root on
 * the Docker host, builds those from outside (the tap is in the agent's own namespace, as on a host where the agent
 * shares the host's network) and wires the two bridges and a client together with veth pairs. As an orchestrator it
 * migrates the VM through the controller's REST API while the client sends numbered frames: every frame must reach
 * exactly one VM exactly once, the controller's report must agree with what the VMs read, and each container must
 * export its meters for Prometheus.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ContainerizedSwitchoverIT {

    // ControllerWithAgentsIT's traffic: 5,000 frames/s, 2,000 before the source VM pauses, 4,000 while it is paused,
    // 2,000 after the destination VM announced itself.
    private static final int RATE = 5_000;
    private static final int BEFORE_PAUSE = 2_000;
    private static final int WHILE_PAUSED = 4_000;
    private static final int AFTER_SWITCH = 2_000;
    private static final int TAP_QUEUE = 1_000;
    /** Holds every frame the paused source VM never read, so that, resumed at the end, it reads what was kept. */
    private static final int SOURCE_TAP_QUEUE = 16_384;
    private static final Duration START_TIMEOUT = Duration.ofMinutes(3);
    private static final Duration ARM_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(45);
    private static final Duration TRAFFIC_TIMEOUT = Duration.ofSeconds(20);

    private static final int AGENT_API = 7070;
    private static final int AGENT_MANAGEMENT = 9091;
    private static final int CONTROLLER_API = 7080;
    private static final int CONTROLLER_MANAGEMENT = 9092;
    private static final String SECRETS = "/etc/netpass/";
    /**
     * Added to the images' own JVM options (ZGC for the agent stays): C1 only, as for the test agents of
     * AgentProcess, since these JVMs live for seconds, and C2 compiling on two shared cores while the first frames
     * arrive can starve the agent's capture long enough for its ring to overflow.
     */
    private static final String TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1";

    private static final Path work = Path.of("target", "it-images");
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static Network network;
    private static AgentTokens tokens;
    private static GenericContainer<?> sourceAgent;
    private static GenericContainer<?> destinationAgent;
    private static GenericContainer<?> controller;
    private static NamespaceLab lab;
    private static Host sourceHost;
    private static Host destinationHost;
    private static Client client;
    private static FrameSender sender;
    private static ControllerClient orchestrator;

    @BeforeAll
    static void startContainersAndHosts() throws Exception {
        FileSystemUtils.deleteRecursively(work);
        Files.createDirectories(work);
        // One controller token, as one Kubernetes Secret: the controller presents it, every agent accepts it.
        tokens = AgentTokens.create(work);
        String callerToken = "caller-" + Long.toHexString(System.nanoTime());
        network = Network.newNetwork();
        sourceAgent = agent("agent-a");
        destinationAgent = agent("agent-b");
        controller = new GenericContainer<>(image("netpass.images.controller"))
                .withNetwork(network)
                .withNetworkAliases("controller")
                .withExposedPorts(CONTROLLER_API, CONTROLLER_MANAGEMENT)
                .withCopyToContainer(secret(callerToken), SECRETS + "caller.token")
                .withCopyToContainer(secret(tokens.controllerFile()), SECRETS + "agent.token")
                .withEnv("JAVA_TOOL_OPTIONS", TEST_JVM_OPTIONS + " -Xmx256m")
                .withCommand(
                        "--netpass.controller.security.caller-token-file=" + SECRETS + "caller.token",
                        "--netpass.controller.security.agent-token-file=" + SECRETS + "agent.token",
                        "--netpass.controller.agents[0].name=host-a",
                        "--netpass.controller.agents[0].base-url=http://agent-a:" + AGENT_API,
                        "--netpass.controller.agents[1].name=host-b",
                        "--netpass.controller.agents[1].base-url=http://agent-b:" + AGENT_API,
                        // An agent's first arming, in a JVM not yet warm on two busy cores, has taken more than the
                        // default 2 s here; the migration would then go on DEGRADED, without netpass.
                        "--netpass.controller.agent-calls.connect-timeout=2s",
                        "--netpass.controller.agent-calls.response-timeout=10s")
                .waitingFor(Wait.forHttp("/actuator/health/readiness").forPort(CONTROLLER_MANAGEMENT)
                        .forStatusCode(200).withStartupTimeout(START_TIMEOUT));
        Startables.deepStart(sourceAgent, destinationAgent, controller).get(START_TIMEOUT.toSeconds() + 30,
                TimeUnit.SECONDS);
        orchestrator = new ControllerClient(published(controller, CONTROLLER_API), callerToken);

        lab = new NamespaceLab();
        sourceHost = lab.attachedHost("src", pid(sourceAgent));
        destinationHost = lab.attachedHost("dst", pid(destinationAgent));
        lab.connect(sourceHost, destinationHost);
        client = lab.client("cl", sourceHost);
        sender = client.sender();
    }

    /**
     * An agent container as a host runs it: root with NET_ADMIN and NET_RAW and the tun device, the controller's and
     * the peers' token files mounted.
     */
    private static GenericContainer<?> agent(String alias) {
        return new GenericContainer<>(image("netpass.images.agent"))
                .withNetwork(network)
                .withNetworkAliases(alias)
                .withExposedPorts(AGENT_API, AGENT_MANAGEMENT)
                .withCreateContainerCmdModifier(create -> create.getHostConfig()
                        .withCapAdd(Capability.NET_ADMIN, Capability.NET_RAW)
                        .withDevices(Device.parse("/dev/net/tun")))
                .withCopyToContainer(secret(tokens.controllerFile()), SECRETS + "controller.token")
                .withCopyToContainer(secret(tokens.peerFile()), SECRETS + "peer.token")
                .withEnv("JAVA_TOOL_OPTIONS", TEST_JVM_OPTIONS + " -Xmx384m")
                .withCommand(
                        "--netpass.agent.security.controller-token-file=" + SECRETS + "controller.token",
                        "--netpass.agent.security.peer-token-file=" + SECRETS + "peer.token",
                        // A fake VM delivers every frame it reads, unlike QEMU, which holds the one it reads after
                        // its VM stopped.
                        "--netpass.agent.forwarding.forward-frame-held-by-vmm=false")
                .waitingFor(Wait.forHttp("/actuator/health/readiness").forPort(AGENT_MANAGEMENT)
                        .forStatusCode(200).withStartupTimeout(START_TIMEOUT));
    }

    @AfterAll
    static void stopEverything() {
        if (sender != null) {
            sender.close();
        }
        if (lab != null) {
            lab.close();
        }
        for (GenericContainer<?> container : new GenericContainer<?>[] {sourceAgent, destinationAgent, controller}) {
            if (container == null) {
                continue;
            }
            try {
                if (container.isRunning()) {
                    Files.writeString(work.resolve(container.getNetworkAliases().getLast() + ".log"),
                            container.getLogs());
                }
            } catch (IOException | RuntimeException e) {
                System.err.println("no log of " + container.getContainerName() + ": " + e);
            } finally {
                container.stop();
            }
        }
        if (network != null) {
            network.close();
        }
    }

    @Test
    void aMigrationThroughTheControllerContainerDeliversEveryFrameOnceAndEveryContainerExportsItsMeters() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:72:11");
        FakeVm sourceVm = sourceHost.startVm("tap0", mac);
        FakeVm destinationVm = destinationHost.startVm("tap0", mac);
        sourceHost.ip("link", "set", "tap0", "txqueuelen", Integer.toString(SOURCE_TAP_QUEUE));
        destinationHost.ip("link", "set", "tap0", "txqueuelen", Integer.toString(TAP_QUEUE));
        // The bridges learn where the VM is, as they would have long before a migration starts.
        sourceVm.announce();
        assertThat(destinationVm.awaitFrames(1, Duration.ofSeconds(5))).hasSize(1);
        // An incoming VM does not run, and so does not read its tap, until switchover.
        destinationVm.pause();

        // Agents are named as the controller reaches them: by their names on the Docker network. No namespace: each
        // tap is in its agent's own.
        String id = "images-1";
        ControllerClient.Response created = orchestrator.call("POST", "/v1/migrations", Map.of(
                "id", id,
                "vm", "vm-images",
                "sourceAgent", "http://agent-a:" + AGENT_API,
                "destinationAgent", "http://agent-b:" + AGENT_API,
                "nics", List.of(Map.of("mac", mac.toString(), "sourceTap", "tap0", "destinationTap", "tap0"))));
        assertThat(created.status()).as("%s", created).isEqualTo(202);
        awaitState(id, "ARMED", ARM_TIMEOUT);
        String session = id + ".0";
        AgentApi source = new AgentApi(published(sourceAgent, AGENT_API), tokens.controller());
        AgentApi destination = new AgentApi(published(destinationAgent, AGENT_API), tokens.controller());
        assertThat(source.session(session, "source").path("state").asString()).isEqualTo("armed");
        assertThat(destination.session(session, "destination").path("state").asString()).isEqualTo("armed");

        PacedTraffic traffic = PacedTraffic.start(client.trafficTo(mac), sender, RATE);
        try {
            traffic.awaitSent(BEFORE_PAUSE, TRAFFIC_TIMEOUT);
            sourceVm.pause();
            long pausedAt = traffic.sent();
            event(id, "SOURCE_PAUSED");
            assertThat(orchestrator.migration(id).path("state").asString()).isEqualTo("SWITCHING");
            traffic.awaitSent(pausedAt + WHILE_PAUSED, TRAFFIC_TIMEOUT);
            // Switchover: the destination VM runs and announces itself; the source stays paused for good.
            destinationVm.resume();
            destinationVm.announce();
            event(id, "DESTINATION_RESUMED");
            traffic.awaitSent(traffic.sent() + AFTER_SWITCH, TRAFFIC_TIMEOUT);
        } finally {
            traffic.close();
        }
        long total = traffic.stop();
        event(id, "COMPLETED");
        // Settled: finished and both agents disarmed.
        JsonNode migration = await().atMost(SETTLE_TIMEOUT).pollInterval(Duration.ofMillis(100))
                .until(() -> orchestrator.migration(id), settled -> settled.path("settled").asBoolean());

        // Every frame has reached a VM by now, unless it was lost.
        try {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
                    .until(() -> sourceVm.sequences().size() + destinationVm.sequences().size() >= total);
        } catch (ConditionTimeoutException e) {
            // The delivery check below names the frames that are missing.
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
        List<Long> readBySource = sourceVm.sequences();
        List<Long> readByDestination = destinationVm.sequences();
        // The source VM, resumed now that netpass is done, reads what it never read while paused: what was kept.
        List<FakeVm.ReadFrame> backlog = sourceVm.resumeAndReadBacklog(Duration.ofMillis(500), Duration.ofSeconds(10));
        byte[] announcement = FakeVm.announcement(mac);
        List<Long> keptSequences = FakeVm.sequences(backlog);
        long keptAnnouncements = backlog.stream().filter(frame -> Arrays.equals(frame.frame(), announcement)).count();
        assertThat(backlog.size()).as("the paused VM's backlog: numbered frames and the destination VM's announcement")
                .isEqualTo(keptSequences.size() + keptAnnouncements);

        SequencedDelivery.assertEachFrameReadOnceByOneVm(total, readBySource, readByDestination, migration);
        assertThat(keptSequences).as("frames were kept: the source VM paused with frames unread").isNotEmpty();
        assertThat(keptSequences).as("kept: the frames after those the source VM read, in order").isEqualTo(
                LongStream.range(readBySource.size(), readBySource.size() + keptSequences.size()).boxed().toList());
        assertThat(readByDestination).as("the destination VM read every kept frame").containsAll(keptSequences);

        // The controller's report: complete, nothing lost, and its counts are the VMs' own.
        assertThat(migration.path("state").asString()).as("%s", migration).isEqualTo("COMPLETED");
        JsonNode report = migration.path("report");
        assertThat(report.path("final").asBoolean()).as("report %s", report).isTrue();
        assertThat(report.path("exact").asBoolean()).as("report %s", report).isTrue();
        assertThat(report.path("droppedFrames").asLong()).as("report %s", report).isZero();
        assertThat(report.path("keptFrames").asLong()).as("kept: every frame the paused source VM never read")
                .isEqualTo(backlog.size());
        assertThat(report.path("framesSaved").asLong()).isEqualTo(keptSequences.size());
        assertThat(report.path("injectedFrames").asLong()).as("injected: the kept frames the destination VM read")
                .isEqualTo(keptSequences.size());

        // Each container exports its meters for Prometheus, and they count this migration.
        String sourceMetrics = prometheus(sourceAgent, AGENT_MANAGEMENT);
        String destinationMetrics = prometheus(destinationAgent, AGENT_MANAGEMENT);
        String controllerMetrics = prometheus(controller, CONTROLLER_MANAGEMENT);
        assertThat(sample(sourceMetrics, "netpass_agent_frames_captured_total"))
                .as("captured at the source: at least what the source VM read and what was kept")
                .isGreaterThanOrEqualTo(keptSequences.size());
        assertThat(sample(sourceMetrics, "netpass_agent_frames_forwarded_total"))
                .as("forwarded: every kept numbered frame, resends counted again")
                .isGreaterThanOrEqualTo(keptSequences.size());
        assertThat(sample(destinationMetrics, "netpass_agent_frames_injected_total"))
                .isEqualTo(keptSequences.size());
        assertThat(sample(destinationMetrics, "netpass_agent_release_first_injection_seconds_count")).isEqualTo(1);
        assertThat(sample(controllerMetrics, "netpass_controller_migrations_total", "outcome=\"completed\""))
                .isEqualTo(1);
        assertThat(sample(controllerMetrics, "netpass_controller_frames_saved_total"))
                .isEqualTo(keptSequences.size());

        System.out.printf("%s in containers: sent %d; source VM read %d, kept %d (%d numbered), destination injected %d "
                        + "and read %d directly%n", id, total, readBySource.size(), backlog.size(),
                keptSequences.size(), report.path("injectedFrames").asLong(),
                readByDestination.size() - keptSequences.size());
        sourceVm.close();
        destinationVm.close();
    }

    private static DockerImageName image(String property) {
        String name = System.getProperty(property);
        if (name == null) {
            throw new IllegalStateException("system property " + property + " not set: run through Maven (failsafe)");
        }
        return DockerImageName.parse(name);
    }

    /** A token file as the container reads it: world-readable, since the controller runs as an unprivileged user. */
    private static Transferable secret(Path file) {
        return MountableFile.forHostPath(file, 0444);
    }

    private static Transferable secret(String token) {
        return Transferable.of(token + "\n", 0444);
    }

    private static long pid(GenericContainer<?> container) {
        return container.getContainerInfo().getState().getPidLong();
    }

    /** {@code http://HOST:PORT} where the Docker host publishes {@code port} of {@code container}. */
    private static URI published(GenericContainer<?> container, int port) {
        return URI.create("http://" + container.getHost() + ":" + container.getMappedPort(port));
    }

    private static String prometheus(GenericContainer<?> container, int managementPort) {
        URI uri = published(container, managementPort).resolve("/actuator/prometheus");
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as("GET %s", uri).isEqualTo(200);
            return response.body();
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + uri, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * The sum of the samples of {@code name} in Prometheus text {@code metrics} whose labels contain every one of
     * {@code labels} ({@code key="value"}); fails if there is none.
     */
    private static double sample(String metrics, String name, String... labels) {
        Pattern line = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);
        Matcher matcher = line.matcher(metrics);
        double sum = 0;
        int found = 0;
        while (matcher.find()) {
            String labelSet = matcher.group(1) == null ? "" : matcher.group(1);
            if (Arrays.stream(labels).allMatch(labelSet::contains)) {
                sum += Double.parseDouble(matcher.group(2));
                found++;
            }
        }
        assertThat(found).as("samples of %s%s in%n%s", name, Arrays.toString(labels), metrics).isPositive();
        return sum;
    }

    private static void event(String id, String type) {
        ControllerClient.Response response = orchestrator.call("POST", "/v1/migrations/" + id + "/events",
                Map.of("type", type));
        assertThat(response.status()).as("%s: %s", type, response).isEqualTo(202);
    }

    private static void awaitState(String id, String state, Duration timeout) {
        await().atMost(timeout).pollInterval(Duration.ofMillis(20))
                .untilAsserted(() -> assertThat(orchestrator.migration(id).path("state").asString()).isEqualTo(state));
    }
}
