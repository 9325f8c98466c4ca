package io.netpass.lab;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The project's proof: real QEMU live migrations, with netpass armed on both hosts, duplicate no probe and lose at
 * most one in all (QEMU may read and purge a second frame while it pauses the vCPUs, docs/reconciliation.md), where the same migrations without it lose
 * tens each (QemuMigrationIT).
 */
class NetpassMigrationIT {

    private static final Logger log = LoggerFactory.getLogger(NetpassMigrationIT.class);
    private static final int MIGRATIONS = 3;
    private static final int PROBES_PER_SECOND = 1_000;
    /** QEMU 7.2's TCG virtio-net bug breaks about 1 migration in 75: such a run is reported and run again. */
    private static final int ATTEMPTS_PER_MIGRATION = 2;
    /** Frames a QEMU may read while its VM stops and lose in its own queue beyond the one netpass forwards. */
    private static final long QEMU_STOP_RACE = 1;

    private static Path workDirectory;
    private static AgentTokens tokens;
    private static AgentProcess hostA;
    private static AgentProcess hostB;

    @BeforeAll
    static void startAgents() throws Exception {
        workDirectory = Files.createTempDirectory("netpass-it-");
        tokens = AgentTokens.create(workDirectory);
        hostA = AgentProcess.start("host-a", tokens, workDirectory);
        hostB = AgentProcess.start("host-b", tokens, workDirectory);
    }

    @AfterAll
    static void stopAgents() {
        for (AgentProcess agent : new AgentProcess[] {hostA, hostB}) {
            if (agent != null) {
                agent.close();
                assertThat(agent.logText()).as("agent %s log", agent.name()).doesNotContain("LEAK:");
            }
        }
    }

    @Test
    @Timeout(600)
    void liveMigrationsWithNetpassLoseAndDuplicateNothing() {
        List<MigrationOutcome> outcomes = new ArrayList<>();
        for (int migration = 1; migration <= MIGRATIONS; migration++) {
            MigrationOutcome outcome = null;
            NetpassHooks hooks = null;
            for (int attempt = 1; attempt <= ATTEMPTS_PER_MIGRATION; attempt++) {
                hooks = new NetpassHooks(hostA, hostB, tokens);
                try (QemuLab lab = QemuLab.create()) {
                    outcome = lab.migrateOnce(hooks, MigrationProbe.Kind.ICMP_ECHO, PROBES_PER_SECOND);
                }
                log.info("migration {} attempt {} with netpass: {}", migration, attempt, outcome.summary());
                if (!outcome.broken()) {
                    break;
                }
            }
            assertThat(outcome.broken()).as("destination guest stopped answering: %s", outcome.summary()).isFalse();
            // QEMU reads one frame after its VM stopped and holds it (netpass forwards it); a frame that arrives
            // while the vCPUs pause is read and purged as well, and nothing outside QEMU can tell that it was.
            assertThat(outcome.lost()).as("probes lost with netpass: %s", outcome.summary())
                    .isLessThanOrEqualTo(QEMU_STOP_RACE);
            assertThat(outcome.duplicated()).as("probes duplicated with netpass: %s", outcome.summary()).isZero();

            JsonNode source = hooks.sourceSession();
            JsonNode destination = hooks.destinationSession();
            assertThat(destination).isNotNull();
            assertThat(source).isNotNull();
            assertThat(destination.path("state").asString()).isEqualTo("completed");
            long forwarded = source.path("counters").path("forwardedFrames").asLong();
            long injected = destination.path("counters").path("injectedFrames").asLong();
            long skipped = destination.path("counters").path("skippedAlreadyDelivered").asLong();
            long withdrawn = destination.path("counters").path("withdrawnFrames").asLong();
            long held = destination.path("counters").path("injectedHeldByVmm").asLong();
            assertThat(forwarded).as("frames the paused source VM never read were forwarded").isPositive();
            // Frames forwarded ahead while the guest lagged are withdrawn once it reads them.
            assertThat(injected - held + skipped + withdrawn)
                    .as("every forwarded frame injected, already delivered or withdrawn: %s", destination)
                    .isEqualTo(forwarded);
            assertThat(destination.path("counters").path("readAfterInjection").asLong()).isZero();
            assertThat(source.path("exact").asBoolean()).isTrue();
            outcomes.add(outcome);
        }
        log.info("with netpass: {}", outcomes.stream().map(MigrationOutcome::summary).toList());
        assertThat(outcomes.stream().mapToLong(MigrationOutcome::lost).sum())
                .as("probes lost over %d migrations with netpass (without it, each loses tens)", MIGRATIONS)
                .isLessThanOrEqualTo(QEMU_STOP_RACE);
    }
}
