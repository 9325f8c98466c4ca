package io.netpass.controller.testing;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import org.jspecify.annotations.Nullable;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

/**
 * A Kubernetes API server (fabric8's mock server in CRUD mode: objects are stored, listed, watched and patched)
 * that knows KubeVirt's VirtualMachineInstance and VirtualMachineInstanceMigration, and plays KubeVirt's
 * virt-controller for a live migration: it moves a VirtualMachineInstanceMigration through KubeVirt's phases in
 * order and keeps the VMI's and the migration's {@code status.migrationState} as KubeVirt does, under the field
 * names of kubevirt.io/v1.
 */
public final class KubevirtCluster implements AutoCloseable {

    /** The phases of a live migration that succeeds, in order. */
    public static final List<String> SUCCESSFUL_PHASES = List.of("Pending", "Scheduling", "Scheduled",
            "PreparingTarget", "TargetReady", "Running", "Succeeded");

    private static final CustomResourceDefinitionContext VMIS = new CustomResourceDefinitionContext.Builder()
            .withGroup("kubevirt.io").withVersion("v1").withKind("VirtualMachineInstance")
            .withPlural("virtualmachineinstances").withScope("Namespaced").build();
    private static final CustomResourceDefinitionContext MIGRATIONS = new CustomResourceDefinitionContext.Builder()
            .withGroup("kubevirt.io").withVersion("v1").withKind("VirtualMachineInstanceMigration")
            .withPlural("virtualmachineinstancemigrations").withScope("Namespaced").build();

    /** The mock server logs every request at INFO; kept here so that the level holds (JUL keeps loggers weakly). */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger(
            "io.fabric8.mockwebserver.MockWebServer");

    static {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    private final KubernetesMockServer server;
    private final KubernetesClient client;

    public KubevirtCluster() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init();
        server.expectCustomResource(VMIS);
        server.expectCustomResource(MIGRATIONS);
        // HTTP/1.1: the mock server does not understand the JDK client's h2c upgrade.
        client = server.createClient(builder -> builder.editOrNewConfig().withHttp2Disable(true).endConfig());
    }

    /** The API server's URL (cleartext HTTP on loopback), for {@code netpass.controller.kubernetes.master-url}. */
    public String url() {
        return client.getConfiguration().getMasterUrl();
    }

    public KubernetesClient client() {
        return client;
    }

    /**
     * A running VMI on {@code node} with one NIC of this MAC on the pod network, labelled with {@code labels}.
     */
    public GenericKubernetesResource runVmi(String namespace, String name, String node, String mac,
            Map<String, String> labels) {
        GenericKubernetesResource vmi = new GenericKubernetesResource();
        vmi.setApiVersion("kubevirt.io/v1");
        vmi.setKind("VirtualMachineInstance");
        vmi.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).withLabels(labels).build());
        vmi.setAdditionalProperty("spec", Map.of("domain", Map.of("devices", Map.of("interfaces",
                List.of(Map.of("name", "default", "masquerade", Map.of(), "macAddress", mac))))));
        Map<String, Object> status = new LinkedHashMap<>();
        status.put("phase", "Running");
        status.put("nodeName", node);
        status.put("migrationMethod", "LiveMigration");
        status.put("interfaces", List.of(Map.of("name", "default", "mac", mac, "interfaceName", "eth0",
                "ipAddress", "10.0.2.2", "ipAddresses", List.of("10.0.2.2"), "infoSource", "domain, guest-agent",
                "queueCount", 1, "podInterfaceName", "eth0")));
        status.put("activePods", Map.of(UUID.randomUUID().toString(), node));
        vmi.setAdditionalProperty("status", status);
        return client.genericKubernetesResources(VMIS).inNamespace(namespace).resource(vmi).create();
    }

    /** A VirtualMachineInstanceMigration of the VMI, as {@code virtctl migrate} creates it; phase Pending. */
    public GenericKubernetesResource migrate(String namespace, String name, String vmiName) {
        GenericKubernetesResource migration = new GenericKubernetesResource();
        migration.setApiVersion("kubevirt.io/v1");
        migration.setKind("VirtualMachineInstanceMigration");
        migration.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).build());
        migration.setAdditionalProperty("spec", Map.of("vmiName", vmiName));
        client.genericKubernetesResources(MIGRATIONS).inNamespace(namespace)
                .resource(migration).create();
        return toPhase(namespace, name, "Pending");
    }

    /**
     * Moves the migration to {@code phase} as virt-controller and virt-handler would, updating the VMI too: the
     * nodes and target pod become known at Scheduled (the target pod was scheduled), the target's address at
     * TargetReady, the start at Running; Succeeded moves the VMI to the target node, Failed leaves it on the source.
     */
    public GenericKubernetesResource toPhase(String namespace, String name, String phase) {
        GenericKubernetesResource migration = migration(namespace, name).orElseThrow();
        String vmiName = (String) migration.get("spec", "vmiName");
        String uid = migration.getMetadata().getUid();
        GenericKubernetesResource vmi = client.genericKubernetesResources(VMIS).inNamespace(namespace)
                .withName(vmiName).get();
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        Map<String, Object> state = migrationState(vmi, uid);
        switch (phase) {
            case "Scheduled" -> {
                String sourceNode = (String) vmi.get("status", "nodeName");
                state.put("migrationUid", uid);
                state.put("sourceNode", sourceNode);
                state.put("sourcePod", "virt-launcher-" + vmiName + "-src");
                state.put("targetNode", targetNodes.getOrDefault(namespace + "/" + name, "unscheduled"));
                state.put("targetPod", "virt-launcher-" + vmiName + "-dst");
            }
            case "TargetReady" -> {
                state.put("targetNodeAddress", "10.0.0.2");
                state.put("targetDirectMigrationNodePorts", Map.of("37159", 0, "42563", 49152));
            }
            case "Running" -> {
                state.put("startTimestamp", now);
                state.put("mode", "PreCopy");
            }
            case "Succeeded" -> {
                state.put("targetNodeDomainDetected", true);
                state.put("targetNodeDomainReadyTimestamp", now);
                state.put("endTimestamp", now);
                state.put("completed", true);
            }
            case "Failed" -> {
                state.put("endTimestamp", now);
                state.put("completed", true);
                state.put("failed", true);
            }
            default -> { }
        }
        boolean known = state.containsKey("migrationUid");
        client.genericKubernetesResources(VMIS).inNamespace(namespace).withName(vmiName).edit(edited -> {
            Map<String, Object> status = status(edited);
            if (known) {
                status.put("migrationState", state);
            }
            if ("Succeeded".equals(phase)) {
                status.put("nodeName", state.get("targetNode"));
            }
            return edited;
        });
        return client.genericKubernetesResources(MIGRATIONS).inNamespace(namespace).withName(name).edit(edited -> {
            Map<String, Object> status = status(edited);
            status.put("phase", phase);
            List<Object> transitions = new ArrayList<>();
            if (status.get("phaseTransitionTimestamps") instanceof List<?> earlier) {
                transitions.addAll(earlier);
            }
            transitions.add(Map.of("phase", phase, "phaseTransitionTimestamp", now));
            status.put("phaseTransitionTimestamps", transitions);
            if (known && copyStateToMigration) {
                status.put("migrationState", state);
            }
            return edited;
        });
    }

    private final Map<String, String> targetNodes = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean copyStateToMigration = true;

    /** The node the scheduler will pick for the migration's target pod. */
    public KubevirtCluster target(String namespace, String migration, String node) {
        targetNodes.put(namespace + "/" + migration, node);
        return this;
    }

    /**
     * Whether the migration's own status carries {@code migrationState} (KubeVirt 1.3 and later) or only the VMI's
     * does (older KubeVirt).
     */
    public KubevirtCluster migrationStateOnMigration(boolean copy) {
        copyStateToMigration = copy;
        return this;
    }

    /** Moves the migration through each of {@code phases} in turn. */
    public void through(String namespace, String name, List<String> phases) {
        for (String phase : phases) {
            toPhase(namespace, name, phase);
        }
    }

    public Optional<GenericKubernetesResource> migration(String namespace, String name) {
        return Optional.ofNullable(client.genericKubernetesResources(MIGRATIONS).inNamespace(namespace)
                .withName(name).get());
    }

    public void deleteMigration(String namespace, String name) {
        client.genericKubernetesResources(MIGRATIONS).inNamespace(namespace).withName(name).delete();
    }

    /** An annotation of the migration, if it is there. */
    public @Nullable String annotation(String namespace, String name, String key) {
        return migration(namespace, name).map(GenericKubernetesResource::getMetadata)
                .map(meta -> meta.getAnnotations() == null ? null : meta.getAnnotations().get(key)).orElse(null);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> status(GenericKubernetesResource resource) {
        Object status = resource.getAdditionalProperties().get("status");
        if (!(status instanceof Map<?, ?>)) {
            status = new LinkedHashMap<String, Object>();
            resource.setAdditionalProperty("status", status);
        }
        return (Map<String, Object>) status;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> migrationState(GenericKubernetesResource vmi, String uid) {
        Object state = vmi.get("status", "migrationState");
        if (state instanceof Map<?, ?> existing && uid.equals(existing.get("migrationUid"))) {
            return new LinkedHashMap<>((Map<String, Object>) existing);
        }
        return new LinkedHashMap<>();
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
