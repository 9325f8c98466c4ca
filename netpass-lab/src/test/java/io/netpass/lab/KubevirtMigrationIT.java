package io.netpass.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.util.FileSystemUtils;

import io.netpass.agent.testing.AgentProcess;
import io.netpass.controller.testing.KubevirtCluster;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * KubeVirt's objects alone drive a real live migration lossless: a Kubernetes API server that plays KubeVirt moves a
 * VirtualMachineInstanceMigration through its phases while real QEMU migrates the VM between two namespace hosts; the
 * controller (its own JVM, watching that API server) arms both real agents, which discover the VM's QEMU and tap by
 * the VMI (virt-launcher's domain name {@code NAMESPACE_NAME}); the destination agent is released by the destination
 * VM's own announcement, and the controller writes the outcome on the migration object. The test never calls the
 * controller.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class KubevirtMigrationIT {

    private static final Logger log = LoggerFactory.getLogger(KubevirtMigrationIT.class);
    private static final Path WORK = Path.of("target", "it-e2e", "KubevirtMigrationIT");
    private static final String NAMESPACE = "apps";
    private static final int PROBES_PER_SECOND = 1_000;
    /**
     * Runs that measure something else are reported and run again: QEMU 7.2's TCG virtio-net bug (about 1 migration
     * in 75), and a run whose source agent itself reported its accounting inexact (its capture ring overflowed, or
     * the tap never settled while arming: the machine was too loaded to keep up, seen here on the shared 2-core
     * machine). A run that loses frames with exact accounting fails at once.
     */
    private static final int ATTEMPTS = 3;
    /** Frames a QEMU may read while its VM stops and lose in its own queue beyond the one netpass forwards. */
    private static final long QEMU_STOP_RACE = 1;
    private static final Duration ARM_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration REPORT_TIMEOUT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static KubevirtCluster cluster;
    private static AgentProcess sourceAgent;
    private static AgentProcess destinationAgent;
    private static ControllerProcess controller;

    @BeforeAll
    static void start() throws Exception {
        FileSystemUtils.deleteRecursively(WORK);
        Files.createDirectories(WORK);
        Path agentToken = Files.writeString(WORK.resolve("controller-to-agents.token"),
                "controller-" + Long.toHexString(System.nanoTime()) + "\n");
        // Both "hosts" share this machine's /proc: each agent finds its own host's QEMU through the pid file that
        // libvirt keeps per host, as on two machines (where only one QEMU runs the VMI).
        Files.createDirectories(WORK.resolve("a-libvirt"));
        Files.createDirectories(WORK.resolve("b-libvirt"));
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", WORK,
                "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
                "--netpass.agent.discovery.libvirt-run-directory=" + WORK.resolve("a-libvirt").toAbsolutePath()));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> AgentProcess.start("b", WORK,
                "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
                "--netpass.agent.discovery.libvirt-run-directory=" + WORK.resolve("b-libvirt").toAbsolutePath()));
        cluster = new KubevirtCluster();
        sourceAgent = a.get(2, TimeUnit.MINUTES);
        destinationAgent = b.get(2, TimeUnit.MINUTES);
        // The agents carry their nodes' names, as agents discovered from the DaemonSet's pods do.
        controller = ControllerProcess.start(WORK.resolve("controller"), agentToken,
                Map.of("node-a", sourceAgent.baseUri(), "node-b", destinationAgent.baseUri()),
                "netpass.controller.kubevirt.enabled=true",
                "netpass.controller.kubevirt.resync=2s",
                "netpass.controller.kubernetes.master-url=" + cluster.url(),
                "netpass.controller.kubernetes.leader-election.retry-period=200ms");
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable running : new AutoCloseable[] {controller, sourceAgent, destinationAgent, cluster}) {
            if (running != null) {
                try {
                    running.close();
                } catch (Exception e) {
                    log.warn("closing {}", running, e);
                }
            }
        }
    }

    /** KubeVirt's side of one migration: the phases around QEMU's own, as virt-controller moves them. */
    private static final class KubevirtPhases implements MigrationHooks {

        private final String vmi;
        private final String migration;
        private @Nullable String migrationId;
        private @Nullable JsonNode report;

        KubevirtPhases(String vmi) {
            this.vmi = vmi;
            this.migration = vmi + "-migration";
        }

        @Override
        public void beforeMigration(MigrationEndpoints endpoints) {
            cluster.target(NAMESPACE, migration, "node-b");
            String uid = cluster.migrate(NAMESPACE, migration, vmi).getMetadata().getUid();
            String id = "kubevirt-" + uid;
            migrationId = id;
            // The destination QEMU already waits for the stream: the target pod is up.
            cluster.through(NAMESPACE, migration, List.of("Scheduling", "Scheduled", "PreparingTarget",
                    "TargetReady"));
            await("both agents armed for " + id, ARM_TIMEOUT, () -> armed(sourceAgent, id, "source")
                    && armed(destinationAgent, id, "destination"));
            cluster.toPhase(NAMESPACE, migration, "Running");
        }

        @Override
        public void afterMigration(MigrationEndpoints endpoints) {
            cluster.toPhase(NAMESPACE, migration, "Succeeded");
            await("the outcome on " + migration, REPORT_TIMEOUT,
                    () -> cluster.annotation(NAMESPACE, migration, "netpass.io/report") != null);
            report = JSON.readTree(cluster.annotation(NAMESPACE, migration, "netpass.io/report"));
        }

        private static boolean armed(AgentProcess agent, String id, String role) {
            for (JsonNode session : agent.api().sessions()) {
                if (session.path("migrationId").asString().startsWith(id + ".")
                        && role.equals(session.path("role").asString())) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public String toString() {
            return "driven by KubeVirt objects";
        }
    }

    @Test
    void aVirtualMachineInstanceMigrationAloneArmsReleasesAndReportsALosslessMigration() throws Exception {
        MigrationOutcome outcome = null;
        KubevirtPhases phases = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            String vmi = "vm-" + attempt;
            phases = new KubevirtPhases(vmi);
            // virt-launcher names the domain NAMESPACE_NAME; on both nodes.
            String domain = NAMESPACE + "_" + vmi;
            try (QemuLab lab = QemuLab.create().named(domain)) {
                cluster.runVmi(NAMESPACE, vmi, "node-a", lab.endpoints().vmMac(), Map.of("netpass.io/enabled",
                        "true"));
                lab.bootSource();
                lab.startDestination();
                Files.writeString(WORK.resolve("a-libvirt").resolve(domain + ".pid"), Long.toString(lab.sourceQemuPid().orElseThrow()));
                Files.writeString(WORK.resolve("b-libvirt").resolve(domain + ".pid"),
                        Long.toString(lab.destinationQemuPid().orElseThrow()));
                outcome = lab.migrateOnce(phases, MigrationProbe.Kind.ICMP_ECHO, PROBES_PER_SECOND);
            }
            log.info("attempt {}: {}; report {}", attempt, outcome.summary(), phases.report);
            boolean exact = phases.report != null && phases.report.path("exact").asBoolean(false);
            if (!outcome.broken() && exact) {
                break;
            }
        }
        assertThat(outcome).isNotNull();
        assertThat(outcome.broken()).as("destination guest stopped answering: %s", outcome.summary()).isFalse();
        assertThat(outcome.lost()).as("probes lost: %s", outcome.summary()).isLessThanOrEqualTo(QEMU_STOP_RACE);
        assertThat(outcome.duplicated()).as("probes duplicated: %s", outcome.summary()).isZero();

        JsonNode report = phases.report;
        assertThat(report).as("the outcome written on the VirtualMachineInstanceMigration").isNotNull();
        assertThat(report.path("migration").asString()).isEqualTo(phases.migrationId);
        assertThat(report.path("state").asString()).as(report.toString()).isEqualTo("COMPLETED");
        assertThat(report.path("final").asBoolean()).isTrue();
        assertThat(report.path("exact").isBoolean()).isTrue();
        assertThat(report.path("forwardedFrames").asLong()).as("frames the paused source VM never read")
                .isPositive();
        assertThat(report.path("framesSaved").asLong()).isPositive();
    }

    private static String controllerLogTail() {
        try {
            String text = Files.readString(controller.log());
            return text.substring(Math.max(0, text.length() - 8_000));
        } catch (java.io.IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static void await(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + ": not within " + timeout + "\ncontroller log:\n"
                        + controllerLogTail());
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
