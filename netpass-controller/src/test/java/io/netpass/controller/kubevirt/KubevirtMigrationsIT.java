package io.netpass.controller.kubevirt;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.KubevirtCluster;
import io.netpass.controller.testing.SimulatedAgent;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The controller driven by KubeVirt's objects alone: a Kubernetes API server that plays KubeVirt moves
 * VirtualMachineInstanceMigrations through their real phases, and the controller arms, releases, completes and
 * reports netpass migrations on simulated agents named after the nodes. The test makes no call to the controller.
 */
class KubevirtMigrationsIT {

    static final String NAMESPACE = "apps";
    private static final String MAC = "52:54:00:6b:76:01";
    private static final Map<String, String> OPTED_IN = Map.of("netpass.io/enabled", "true");
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path directory;

    private ControllerLab lab;
    private KubevirtCluster cluster;

    @BeforeEach
    void start() throws Exception {
        cluster = new KubevirtCluster();
        lab = new ControllerLab(directory);
    }

    @AfterEach
    void stop() {
        lab.close();
        cluster.close();
    }

    private void startController(String... properties) throws Exception {
        lab.property("netpass.controller.kubevirt.enabled", true)
                .property("netpass.controller.kubevirt.resync", "1s")
                .property("netpass.controller.kubernetes.master-url", cluster.url())
                .property("netpass.controller.kubernetes.leader-election.lease-duration", "2s")
                .property("netpass.controller.kubernetes.leader-election.renew-deadline", "1500ms")
                .property("netpass.controller.kubernetes.leader-election.retry-period", "200ms");
        for (String property : properties) {
            String[] keyValue = property.split("=", 2);
            lab.property(keyValue[0], keyValue[1]);
        }
        lab.start();
    }

    /** A VM on host-a whose NIC both agents find, and a migration of it to host-b. */
    private String vmAndMigration(String vm, Map<String, String> labels, String targetNode) {
        return vmAndMigration(cluster, lab, vm, MAC, labels, targetNode);
    }

    /**
     * A VMI {@code vm} in {@code apps} running on host-a, with one NIC of this MAC on a tap both simulated agents
     * find, and a VirtualMachineInstanceMigration {@code VM-migration} of it (Pending) whose target pod will be
     * scheduled on {@code targetNode}; returns the netpass migration id.
     */
    static String vmAndMigration(KubevirtCluster cluster, ControllerLab lab, String vm, String mac,
            Map<String, String> labels, String targetNode) {
        cluster.runVmi(NAMESPACE, vm, "host-a", mac, labels);
        // virt-launcher names the libvirt domain NAMESPACE_NAME.
        lab.source.runs(NAMESPACE + "_" + vm, 4242, List.of(Map.of("mac", mac, "tap", "tap-src",
                "namespace", "/proc/4242/ns/net")));
        lab.destination.runs(NAMESPACE + "_" + vm, 4343, List.of(Map.of("mac", mac, "tap", "tap-dst",
                "namespace", "/proc/4343/ns/net")));
        String migration = vm + "-migration";
        cluster.target(NAMESPACE, migration, targetNode);
        String uid = cluster.migrate(NAMESPACE, migration, vm).getMetadata().getUid();
        return KubevirtMigrations.migrationId(uid);
    }

    @Test
    void anOptedInVmiIsArmedOnceItsTargetIsReadyReleasedAndItsOutcomeWrittenOnTheMigration() throws Exception {
        startController();
        String id = vmAndMigration("vm-1", OPTED_IN, "host-b");

        cluster.through(NAMESPACE, "vm-1-migration", List.of("Scheduling", "Scheduled", "PreparingTarget"));
        // Before the target pod is ready there is nothing to arm on its node.
        sleep(Duration.ofMillis(1500));
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();

        cluster.toPhase(NAMESPACE, "vm-1-migration", "TargetReady");
        awaitTrue("both sides armed", () -> armed(lab.source, id) && armed(lab.destination, id));
        SimulatedAgent.Session source = lab.source.sessionsOf(id).getFirst();
        assertThat(source.tap()).isEqualTo("tap-src");
        SimulatedAgent.Session destination = lab.destination.sessionsOf(id).getFirst();
        assertThat(destination.tap()).isEqualTo("tap-dst");
        assertThat(destination.sourceAgent()).isEqualTo(lab.source.baseUrl().toString());
        assertThat(destination.vmMacs()).containsExactly(MAC);

        cluster.toPhase(NAMESPACE, "vm-1-migration", "Running");
        // The destination agent sees its VM announce itself and pulls; the source is released by the pull.
        String session = source.migrationId();
        lab.destination.release(session);
        lab.source.release(session);
        cluster.toPhase(NAMESPACE, "vm-1-migration", "Succeeded");

        JsonNode report = awaitReport("vm-1-migration");
        assertThat(report.path("migration").asString()).isEqualTo(id);
        assertThat(report.path("state").asString()).isEqualTo("COMPLETED");
        assertThat(report.path("final").asBoolean()).isTrue();
        assertThat(report.path("framesSaved").asLong()).isEqualTo(42);
        assertThat(report.path("injectedFrames").asLong()).isEqualTo(42);
        assertThat(lab.source.sessionCount()).as("disarmed").isZero();
        assertThat(lab.destination.sessionCount()).as("disarmed").isZero();
        assertThat(lab.destination.requests()).anyMatch(request -> request.startsWith("POST /v1/migrations/"
                + session + "/events"));
        assertThat(kubevirtMigrations("created")).isEqualTo(1);
        assertThat(lab.controller().context().getBean(MeterRegistry.class).get("netpass.controller.kubevirt.leader")
                .gauge().value()).isEqualTo(1);
    }

    private double kubevirtMigrations(String outcome) {
        Counter counter = lab.controller().context().getBean(MeterRegistry.class)
                .find("netpass.controller.kubevirt.migrations").tag("outcome", outcome).counter();
        return counter == null ? 0 : counter.count();
    }

    @Test
    void theNodesAreTakenFromTheVmiWhenTheMigrationDoesNotCarryThem() throws Exception {
        cluster.migrationStateOnMigration(false);
        startController();
        String id = vmAndMigration("vm-2", OPTED_IN, "host-b");

        cluster.through(NAMESPACE, "vm-2-migration", List.of("Scheduling", "Scheduled", "PreparingTarget",
                "TargetReady"));

        awaitTrue("both sides armed", () -> armed(lab.source, id) && armed(lab.destination, id));
    }

    @Test
    void aVmiThatDidNotOptInIsLeftAlone() throws Exception {
        startController();
        vmAndMigration("vm-3", Map.of(), "host-b");
        cluster.through(NAMESPACE, "vm-3-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 7));
        sleep(Duration.ofMillis(1500));
        assertThat(lab.source.requests()).as("discovery or arming")
                .noneMatch(request -> request.contains("/v1/discovery") || request.contains("/v1/migrations/"));
        assertThat(cluster.annotation(NAMESPACE, "vm-3-migration", "netpass.io/report")).isNull();
    }

    @Test
    void withEveryVmOptedInByConfigurationOnlyAnOptOutIsLeftAlone() throws Exception {
        startController("netpass.controller.kubevirt.all-vms=true");
        String id = vmAndMigration("vm-4", Map.of(), "host-b");
        cluster.through(NAMESPACE, "vm-4-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 5));
        awaitTrue("armed", () -> armed(lab.source, id));

        String optedOut = vmAndMigration("vm-5", Map.of("netpass.io/enabled", "false"), "host-b");
        cluster.through(NAMESPACE, "vm-5-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 5));
        sleep(Duration.ofMillis(1500));
        assertThat(lab.source.sessionsOf(optedOut)).isEmpty();
    }

    @Test
    void aFailedMigrationIsReportedFailedToBothAgentsAndOnTheMigration() throws Exception {
        startController();
        String id = vmAndMigration("vm-6", OPTED_IN, "host-b");
        cluster.through(NAMESPACE, "vm-6-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 6));
        awaitTrue("both sides armed", () -> armed(lab.source, id) && armed(lab.destination, id));
        String session = lab.source.sessionsOf(id).getFirst().migrationId();

        cluster.toPhase(NAMESPACE, "vm-6-migration", "Failed");

        JsonNode report = awaitReport("vm-6-migration");
        assertThat(report.path("state").asString()).isEqualTo("FAILED");
        assertThat(lab.source.requests()).anyMatch(request -> request.startsWith("POST /v1/migrations/" + session
                + "/events"));
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
    }

    @Test
    void aDeletedMigrationDisarmsBothAgents() throws Exception {
        startController();
        String id = vmAndMigration("vm-7", OPTED_IN, "host-b");
        cluster.through(NAMESPACE, "vm-7-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 5));
        awaitTrue("both sides armed", () -> armed(lab.source, id) && armed(lab.destination, id));

        cluster.deleteMigration(NAMESPACE, "vm-7-migration");

        awaitTrue("both sides disarmed", () -> lab.source.sessionCount() == 0
                && lab.destination.sessionCount() == 0);
        assertThat(lab.source.disarms()).isEqualTo(1);
    }

    @Test
    void withoutAnAgentOnTheTargetNodeTheMigrationGoesOnWithoutNetpassAndTheReasonIsWritten() throws Exception {
        startController();
        String id = vmAndMigration("vm-8", OPTED_IN, "host-c");
        cluster.through(NAMESPACE, "vm-8-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 6));

        JsonNode report = awaitReport("vm-8-migration");
        assertThat(report.path("state").asString()).isEqualTo("SKIPPED");
        assertThat(report.path("reason").asString()).contains("no netpass agent on node host-c");
        assertThat(lab.source.sessionsOf(id)).isEmpty();
        assertThat(kubevirtMigrations("no-agent")).isEqualTo(1);
        assertThat(kubevirtMigrations("created")).isZero();
    }

    private static boolean armed(SimulatedAgent agent, String id) {
        return !agent.sessionsOf(id).isEmpty();
    }

    private JsonNode awaitReport(String migration) {
        awaitTrue("report on " + migration,
                () -> cluster.annotation(NAMESPACE, migration, "netpass.io/report") != null);
        return JSON.readTree(cluster.annotation(NAMESPACE, migration, "netpass.io/report"));
    }

    static void awaitTrue(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + ": not within " + WAIT);
            }
            sleep(Duration.ofMillis(50));
        }
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
