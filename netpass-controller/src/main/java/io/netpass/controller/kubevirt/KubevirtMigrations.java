package io.netpass.controller.kubevirt;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.kubernetes.Watches;
import io.netpass.controller.kubevirt.KubevirtObjects.Phase;
import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.metrics.ControllerMeters.KubevirtOutcome;
import io.netpass.controller.migration.Migration;
import io.netpass.controller.migration.MigrationCoordinator;
import io.netpass.controller.migration.MigrationEventType;
import io.netpass.controller.migration.MigrationReport;
import io.netpass.controller.migration.MigrationSnapshot;
import io.netpass.controller.migration.Migrations;
import io.netpass.controller.migration.NewMigration;
import io.netpass.controller.migration.Nic;
import io.netpass.controller.migration.RecordedEvent;
import io.netpass.controller.migration.VmLocator;
import reactor.core.Disposable;
import tools.jackson.databind.json.JsonMapper;

/**
 * Drives netpass migrations from KubeVirt's VirtualMachineInstanceMigrations, level-based: whenever a migration or
 * its VMI changes (and every resync period) the migration's current state decides what to do. Once its target pod
 * is ready (TargetReady, Running) and both nodes are known, a netpass migration is created for an opted-in VMI
 * (idempotent: its id comes from the VirtualMachineInstanceMigration's uid), with the nodes' agents and the VMI's
 * MACs; Succeeded tells it the destination runs and the migration completed, Failed that it failed, and a deleted
 * migration cancels it. The outcome is written back as an annotation. Watches only while {@link #startWatching()}
 * (this replica leads); everything runs on one thread, in order.
 */
public final class KubevirtMigrations implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(KubevirtMigrations.class);

    /** The prefix of the ids of migrations created from KubeVirt. */
    public static final String ID_PREFIX = "kubevirt-";

    private static final int BACKLOG = 10_000;

    private final KubernetesClient client;
    private final KubevirtProperties properties;
    private final MigrationCoordinator coordinator;
    private final Migrations migrations;
    private final AgentDirectory directory;
    private final JsonMapper json;
    private final ControllerMeters meters;
    /** The VirtualMachineInstanceMigration ({@code namespace/name}) of each netpass migration this created. */
    private final Map<String, String> objectById = new ConcurrentHashMap<>();
    /** Migrations (by uid) netpass stays out of, so that the reason is written and logged once. */
    private final Set<String> skipped = ConcurrentHashMap.newKeySet();
    private final List<SharedIndexInformer<GenericKubernetesResource>> migrationInformers = new ArrayList<>();
    private final List<SharedIndexInformer<GenericKubernetesResource>> vmiInformers = new ArrayList<>();
    /**
     * One thread, in order, with a bounded backlog: a change dropped when it is full comes back with the next resync
     * (level-based), so a flood of events costs latency, not memory.
     */
    private final ExecutorService work = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
            new ArrayBlockingQueue<>(BACKLOG), Thread.ofPlatform().name("netpass-kubevirt").daemon().factory(),
            (task, executor) -> {
                if (!executor.isShutdown()) {
                    log.warn("more than {} KubeVirt changes waiting; this one waits for the next resync", BACKLOG);
                }
            });
    private final Disposable reports;

    public KubevirtMigrations(KubernetesClient client, KubevirtProperties properties, MigrationCoordinator coordinator,
            Migrations migrations, AgentDirectory directory, JsonMapper json, ControllerMeters meters) {
        this.client = client;
        this.properties = properties;
        this.coordinator = coordinator;
        this.migrations = migrations;
        this.directory = directory;
        this.json = json;
        this.meters = meters;
        meters.kubevirtLeader(this::watching);
        this.reports = migrations.changes()
                .filter(migration -> objectById.containsKey(migration.id()) && migration.snapshot().settled())
                .subscribe(migration -> submit(() -> report(migration.snapshot())));
    }

    /** The netpass migration id of a VirtualMachineInstanceMigration. */
    public static String migrationId(String uid) {
        return ID_PREFIX + uid;
    }

    /** Starts watching KubeVirt's objects (this replica became the leader). */
    public synchronized void startWatching() {
        if (!migrationInformers.isEmpty()) {
            return;
        }
        List<@Nullable String> namespaces = properties.namespaces().isEmpty() ? Collections.singletonList(null)
                : List.copyOf(properties.namespaces());
        for (String namespace : namespaces) {
            String where = namespace == null ? "all namespaces" : "namespace " + namespace;
            vmiInformers.add(Watches.start(resources(KubevirtObjects.VMIS, namespace),
                    new Handler(this::vmiChanged, null), properties.resync(), "VirtualMachineInstances in " + where));
            migrationInformers.add(Watches.start(resources(KubevirtObjects.MIGRATIONS, namespace),
                    new Handler(this::migrationChanged, this::migrationDeleted), properties.resync(),
                    "VirtualMachineInstanceMigrations in " + where));
        }
    }

    /** Stops watching (this replica no longer leads); the migrations already created go on. */
    public synchronized void stopWatching() {
        migrationInformers.forEach(SharedIndexInformer::close);
        vmiInformers.forEach(SharedIndexInformer::close);
        migrationInformers.clear();
        vmiInformers.clear();
    }

    private FilterWatchListDeletable<GenericKubernetesResource, GenericKubernetesResourceList,
            Resource<GenericKubernetesResource>> resources(
            ResourceDefinitionContext context, @Nullable String namespace) {
        var all = client.genericKubernetesResources(context);
        return namespace == null ? all.inAnyNamespace() : all.inNamespace(namespace);
    }

    /** Informer callbacks, handed to the work thread. */
    private final class Handler implements ResourceEventHandler<GenericKubernetesResource> {
        private final Consumer<GenericKubernetesResource> changed;
        private final @Nullable Consumer<GenericKubernetesResource> deleted;

        Handler(Consumer<GenericKubernetesResource> changed,
                @Nullable Consumer<GenericKubernetesResource> deleted) {
            this.changed = changed;
            this.deleted = deleted;
        }

        @Override
        public void onAdd(GenericKubernetesResource resource) {
            submit(() -> changed.accept(resource));
        }

        @Override
        public void onUpdate(GenericKubernetesResource old, GenericKubernetesResource resource) {
            submit(() -> changed.accept(resource));
        }

        @Override
        public void onDelete(GenericKubernetesResource resource, boolean finalStateUnknown) {
            if (deleted != null) {
                submit(() -> deleted.accept(resource));
            }
        }
    }

    private void submit(Runnable task) {
        work.execute(() -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                log.warn("reconciling KubeVirt migrations failed; retried at the next change or resync", e);
            }
        });
    }

    private void vmiChanged(GenericKubernetesResource vmi) {
        String namespace = vmi.getMetadata().getNamespace();
        String name = vmi.getMetadata().getName();
        for (SharedIndexInformer<GenericKubernetesResource> informer : informers(migrationInformers)) {
            for (GenericKubernetesResource migration : informer.getStore().list()) {
                KubevirtObjects.Migration parsed = KubevirtObjects.Migration.of(migration);
                if (parsed.namespace().equals(namespace) && name.equals(parsed.vmiName())) {
                    reconcile(parsed);
                }
            }
        }
    }

    private void migrationChanged(GenericKubernetesResource resource) {
        reconcile(KubevirtObjects.Migration.of(resource));
    }

    private void migrationDeleted(GenericKubernetesResource resource) {
        String uid = resource.getMetadata().getUid();
        String id = migrationId(uid);
        skipped.remove(uid);
        Optional<Migration> migration = migrations.find(id);
        if (migration.isPresent() && migration.get().state().active()) {
            log.info("{}: VirtualMachineInstanceMigration {}/{} deleted; cancelling", id,
                    resource.getMetadata().getNamespace(), resource.getMetadata().getName());
            objectById.remove(id);
            coordinator.cancel(id);
        }
    }

    private void reconcile(KubevirtObjects.Migration object) {
        String id = migrationId(object.uid());
        Optional<Migration> existing = migrations.find(id);
        if (existing.isPresent()) {
            // A settled one's outcome was written when it settled (or, read back after a restart, before it): once.
            if (!existing.get().snapshot().settled()) {
                objectById.putIfAbsent(id, object.namespace() + "/" + object.name());
            }
            follow(existing.get(), object.phase());
            return;
        }
        if (!object.phase().armable() || object.vmiName() == null || skipped.contains(object.uid())) {
            return;
        }
        KubevirtObjects.Vmi vmi = vmi(object.namespace(), object.vmiName());
        if (vmi == null || !optedIn(vmi)) {
            return;
        }
        KubevirtObjects.MigrationState state = nodes(object, vmi);
        if (state == null) {
            return; // KubeVirt fills in the nodes; the next change brings them
        }
        String sourceNode = Objects.requireNonNull(state.sourceNode());
        String targetNode = Objects.requireNonNull(state.targetNode());
        Optional<AgentDirectory.KnownAgent> source = directory.named(sourceNode);
        Optional<AgentDirectory.KnownAgent> target = directory.named(targetNode);
        if (source.isEmpty() || target.isEmpty()) {
            String missing = source.isEmpty() ? sourceNode : targetNode;
            if (object.phase() == Phase.RUNNING) {
                // Too late to wait for it: the switchover may come any moment. The migration goes on without netpass.
                skip(object, "no netpass agent on node " + missing, KubevirtOutcome.NO_AGENT);
            } else {
                log.info("{}: no netpass agent on node {} yet; waiting until the migration runs", id, missing);
            }
            return;
        }
        NewMigration request = new NewMigration(id, null, vmi.namespace() + "/" + vmi.name(),
                source.get().baseUrl(), target.get().baseUrl(), nics(vmi),
                VmLocator.kubevirt(vmi.namespace(), vmi.name()));
        objectById.put(id, object.namespace() + "/" + object.name());
        try {
            coordinator.create(request, Duration.ZERO).subscribe(created -> {
                if (created.created()) {
                    meters.kubevirtMigration(KubevirtOutcome.CREATED);
                }
            });
            log.info("{}: arming for VirtualMachineInstanceMigration {}/{} of {} from {} to {}", id,
                    object.namespace(), object.name(), request.vm(), sourceNode, targetNode);
        } catch (RuntimeException e) {
            objectById.remove(id);
            skip(object, "netpass refused the migration: " + e.getMessage(), KubevirtOutcome.REFUSED);
        }
    }

    /** The VMI's NICs as the agents need them: its MACs; the agents find the taps. */
    private static List<Nic> nics(KubevirtObjects.Vmi vmi) {
        return vmi.macs().stream().map(Nic::toDiscover).toList();
    }

    /** Passes KubeVirt's phase on to an existing netpass migration. */
    private void follow(Migration migration, Phase phase) {
        if (!migration.state().active()) {
            return;
        }
        MigrationSnapshot snapshot = migration.snapshot();
        Set<MigrationEventType> seen = EnumSet.noneOf(MigrationEventType.class);
        snapshot.events().stream().map(RecordedEvent::type).forEach(seen::add);
        switch (phase) {
            case SUCCEEDED -> {
                for (MigrationEventType type : List.of(MigrationEventType.DESTINATION_RESUMED,
                        MigrationEventType.COMPLETED)) {
                    if (!seen.contains(type)) {
                        coordinator.event(migration.id(), type, Duration.ZERO).subscribe();
                    }
                }
            }
            case FAILED -> {
                if (!seen.contains(MigrationEventType.FAILED)) {
                    coordinator.event(migration.id(), MigrationEventType.FAILED, Duration.ZERO).subscribe();
                }
            }
            default -> { }
        }
    }

    private boolean optedIn(KubevirtObjects.Vmi vmi) {
        String mark = vmi.marked(properties.optInKey());
        return properties.allVms() ? !"false".equalsIgnoreCase(mark) : "true".equalsIgnoreCase(mark);
    }

    /** The migration's nodes: from the migration's own status, else from the VMI's if it is about this migration. */
    private static KubevirtObjects.@Nullable MigrationState nodes(KubevirtObjects.Migration object,
            KubevirtObjects.Vmi vmi) {
        if (object.state() != null && object.state().nodesKnown()) {
            return object.state();
        }
        KubevirtObjects.MigrationState state = vmi.state();
        if (state != null && state.nodesKnown() && object.uid().equals(state.migrationUid())) {
            return state;
        }
        return null;
    }

    private KubevirtObjects.@Nullable Vmi vmi(String namespace, String name) {
        for (SharedIndexInformer<GenericKubernetesResource> informer : informers(vmiInformers)) {
            GenericKubernetesResource vmi = informer.getStore().getByKey(namespace + "/" + name);
            if (vmi != null) {
                return KubevirtObjects.Vmi.of(vmi);
            }
        }
        return null;
    }

    private synchronized List<SharedIndexInformer<GenericKubernetesResource>> informers(
            List<SharedIndexInformer<GenericKubernetesResource>> which) {
        return List.copyOf(which);
    }

    private void skip(KubevirtObjects.Migration object, String reason, KubevirtOutcome outcome) {
        if (skipped.add(object.uid())) {
            meters.kubevirtMigration(outcome);
            log.warn("{}: netpass stays out of VirtualMachineInstanceMigration {}/{}: {}",
                    migrationId(object.uid()), object.namespace(), object.name(), reason);
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("state", "SKIPPED");
            report.put("reason", reason);
            annotate(object.namespace(), object.name(), report);
        }
    }

    /** Writes a finished migration's outcome on its VirtualMachineInstanceMigration. */
    private void report(MigrationSnapshot migration) {
        String object = objectById.remove(migration.id());
        if (object == null) {
            return;
        }
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("migration", migration.id());
        report.put("state", migration.state().name());
        if (migration.reason() != null) {
            report.put("reason", migration.reason());
        }
        if (migration.report() != null) {
            MigrationReport counters = migration.report();
            report.put("final", counters.finalCounters());
            report.put("exact", counters.exact());
            report.put("framesSaved", counters.framesSaved());
            report.put("forwardedFrames", counters.forwardedFrames());
            report.put("injectedFrames", counters.injectedFrames());
            report.put("droppedFrames", counters.droppedFrames());
        }
        String[] namespaceAndName = object.split("/", 2);
        annotate(namespaceAndName[0], namespaceAndName[1], report);
        log.info("{}: {} reported on VirtualMachineInstanceMigration {}", migration.id(), migration.state(), object);
    }

    private void annotate(String namespace, String name, Map<String, Object> report) {
        if (properties.reportAnnotation().isEmpty()) {
            return;
        }
        Map<String, Object> patch = Map.of("metadata",
                Map.of("annotations", Map.of(properties.reportAnnotation(), json.writeValueAsString(report))));
        try {
            client.genericKubernetesResources(KubevirtObjects.MIGRATIONS).inNamespace(namespace).withName(name)
                    .patch(PatchContext.of(PatchType.JSON_MERGE), json.writeValueAsString(patch));
        } catch (RuntimeException e) {
            log.warn("cannot annotate VirtualMachineInstanceMigration {}/{}: {}", namespace, name, e.getMessage());
        }
    }

    /** Whether this replica watches KubeVirt now. */
    public synchronized boolean watching() {
        return !migrationInformers.isEmpty();
    }

    @Override
    public void close() {
        stopWatching();
        reports.dispose();
        work.shutdownNow();
    }
}
