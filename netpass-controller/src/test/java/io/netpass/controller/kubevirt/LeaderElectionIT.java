package io.netpass.controller.kubevirt;

import static io.netpass.controller.kubevirt.KubevirtMigrationsIT.NAMESPACE;
import static io.netpass.controller.kubevirt.KubevirtMigrationsIT.awaitTrue;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.netpass.controller.migration.Migration;
import io.netpass.controller.migration.Migrations;
import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.KubevirtCluster;
import io.netpass.controller.testing.RunningController;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Two controller replicas against one API server: only the Lease holder drives KubeVirt migrations, and when it
 * stops, the other takes over and drives the next one.
 */
class LeaderElectionIT {

    private static final String MAC = "52:54:00:6b:76:11";

    @TempDir
    Path directory;

    private KubevirtCluster cluster;
    private ControllerLab lab;
    private @Nullable RunningController first;
    private @Nullable RunningController second;

    @BeforeEach
    void start() throws Exception {
        cluster = new KubevirtCluster();
        lab = new ControllerLab(directory);
    }

    @AfterEach
    void stop() {
        if (second != null) {
            second.close();
        }
        if (first != null) {
            first.close();
        }
        lab.close();
        cluster.close();
    }

    private RunningController replica(String identity) throws IOException {
        Path home = Files.createDirectories(directory.resolve(identity));
        Map<String, Object> properties = RunningController.testProperties(home, List.of(lab.source,
                lab.destination));
        properties.put("netpass.controller.kubevirt.enabled", true);
        properties.put("netpass.controller.kubevirt.resync", "1s");
        properties.put("netpass.controller.kubernetes.master-url", cluster.url());
        properties.put("netpass.controller.kubernetes.namespace", "netpass");
        properties.put("netpass.controller.kubernetes.leader-election.identity", identity);
        properties.put("netpass.controller.kubernetes.leader-election.lease-duration", "3s");
        properties.put("netpass.controller.kubernetes.leader-election.renew-deadline", "2s");
        properties.put("netpass.controller.kubernetes.leader-election.retry-period", "200ms");
        return RunningController.start(properties, lab.recorder());
    }

    private static boolean watching(@Nullable RunningController controller) {
        return controller != null && controller.context().getBean(KubevirtMigrations.class).watching();
    }

    private static Optional<Migration> created(RunningController controller, String id) {
        return controller.context().getBean(Migrations.class).find(id).filter(migration -> !migration.recovered());
    }

    private @Nullable String holder() {
        Lease lease = cluster.client().leases().inNamespace("netpass").withName("netpass-controller").get();
        return lease == null ? null : lease.getSpec().getHolderIdentity();
    }

    /** A VM on host-a migrating to host-b, moved on to TargetReady; the netpass migration's id. */
    private String migrationToTargetReady(String vm) {
        String id = KubevirtMigrationsIT.vmAndMigration(cluster, lab, vm, MAC, Map.of("netpass.io/enabled", "true"),
                "host-b");
        cluster.through(NAMESPACE, vm + "-migration", KubevirtCluster.SUCCESSFUL_PHASES.subList(1, 5));
        return id;
    }

    @Test
    void onlyTheLeaderDrivesMigrationsAndTheOtherReplicaTakesOverWhenItStopsAlsoTheOneInFlight() throws Exception {
        first = replica("replica-a");
        awaitTrue("replica-a leads", () -> watching(first) && "replica-a".equals(holder()));
        second = replica("replica-b");

        String one = migrationToTargetReady("vm-1");
        awaitTrue("armed by the leader", () -> first != null && created(first, one).isPresent()
                && !lab.source.sessionsOf(one).isEmpty());
        assertThat(watching(second)).as("the follower watches nothing").isFalse();
        assertThat(created(second, one)).as("the follower created nothing").isEmpty();

        first.close();
        first = null;
        awaitTrue("replica-b took over", () -> watching(second) && "replica-b".equals(holder()));

        String two = migrationToTargetReady("vm-2");
        awaitTrue("armed by the new leader", () -> created(second, two).isPresent()
                && !lab.destination.sessionsOf(two).isEmpty());

        // The migration armed by the old leader goes on under the new one: released, completed and reported.
        String session = lab.source.sessionsOf(one).getFirst().migrationId();
        cluster.toPhase(NAMESPACE, "vm-1-migration", "Running");
        lab.destination.release(session);
        lab.source.release(session);
        cluster.toPhase(NAMESPACE, "vm-1-migration", "Succeeded");
        awaitTrue("vm-1's outcome written by the new leader",
                () -> cluster.annotation(NAMESPACE, "vm-1-migration", "netpass.io/report") != null);
        JsonNode report = JsonMapper.builder().build().readTree(
                cluster.annotation(NAMESPACE, "vm-1-migration", "netpass.io/report"));
        assertThat(report.path("migration").asString()).isEqualTo(one);
        assertThat(report.path("state").asString()).isEqualTo("COMPLETED");
        assertThat(report.path("forwardedFrames").asLong()).isEqualTo(42);
    }
}
