package io.netpass.controller.kubevirt;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.jspecify.annotations.Nullable;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;

/**
 * The parts of KubeVirt's {@code kubevirt.io/v1} objects the controller reads, under their API's field names
 * (kubevirt/kubevirt {@code staging/src/kubevirt.io/api/core/v1/types.go}).
 */
final class KubevirtObjects {

    static final ResourceDefinitionContext MIGRATIONS = new ResourceDefinitionContext.Builder()
            .withGroup("kubevirt.io").withVersion("v1").withKind("VirtualMachineInstanceMigration")
            .withPlural("virtualmachineinstancemigrations").withNamespaced(true).build();

    static final ResourceDefinitionContext VMIS = new ResourceDefinitionContext.Builder()
            .withGroup("kubevirt.io").withVersion("v1").withKind("VirtualMachineInstance")
            .withPlural("virtualmachineinstances").withNamespaced(true).build();

    /** {@code status.phase} of a VirtualMachineInstanceMigration, in the order a live migration goes through. */
    enum Phase {
        PENDING("Pending"), SCHEDULING("Scheduling"), SCHEDULED("Scheduled"), PREPARING_TARGET("PreparingTarget"),
        TARGET_READY("TargetReady"), RUNNING("Running"), SUCCEEDED("Succeeded"), FAILED("Failed"), UNSET("");

        final String value;

        Phase(String value) {
            this.value = value;
        }

        static Phase of(@Nullable String value) {
            for (Phase phase : values()) {
                if (phase.value.equals(value)) {
                    return phase;
                }
            }
            return UNSET;
        }

        /** The target pod is up and its network ready, the switchover not yet over: the time to arm. */
        boolean armable() {
            return this == TARGET_READY || this == RUNNING;
        }
    }

    /**
     * {@code status.migrationState}, on the migration (newer KubeVirt) or on its VMI.
     *
     * @param migrationUid the migration it belongs to
     * @param sourceNode the node the VMI runs on
     * @param targetNode the node it moves to
     * @param targetPod the target virt-launcher pod
     */
    record MigrationState(@Nullable String migrationUid, @Nullable String sourceNode, @Nullable String targetNode,
            @Nullable String targetPod) {

        boolean nodesKnown() {
            return sourceNode != null && targetNode != null;
        }
    }

    /** A VirtualMachineInstanceMigration. */
    record Migration(String namespace, String name, String uid, @Nullable String vmiName, Phase phase,
            @Nullable MigrationState state) {

        static Migration of(GenericKubernetesResource resource) {
            return new Migration(resource.getMetadata().getNamespace(), resource.getMetadata().getName(),
                    resource.getMetadata().getUid(), string(resource, "spec", "vmiName"),
                    Phase.of(string(resource, "status", "phase")), migrationState(resource));
        }
    }

    /** A VirtualMachineInstance. */
    record Vmi(String namespace, String name, Map<String, String> labels, Map<String, String> annotations,
            List<String> macs, @Nullable MigrationState state) {

        static Vmi of(GenericKubernetesResource resource) {
            List<String> macs = new ArrayList<>();
            if (resource.get("status", "interfaces") instanceof List<?> interfaces) {
                for (Object nic : interfaces) {
                    if (nic instanceof Map<?, ?> fields && fields.get("mac") instanceof String mac && !mac.isBlank()) {
                        macs.add(mac.toLowerCase(Locale.ROOT));
                    }
                }
            }
            Map<String, String> labels = resource.getMetadata().getLabels();
            Map<String, String> annotations = resource.getMetadata().getAnnotations();
            return new Vmi(resource.getMetadata().getNamespace(), resource.getMetadata().getName(),
                    labels == null ? Map.of() : labels, annotations == null ? Map.of() : annotations,
                    List.copyOf(macs), migrationState(resource));
        }

        /** The value of a label or else an annotation. */
        @Nullable String marked(String key) {
            String label = labels.get(key);
            return label != null ? label : annotations.get(key);
        }
    }

    private static @Nullable MigrationState migrationState(GenericKubernetesResource resource) {
        if (!(resource.get("status", "migrationState") instanceof Map<?, ?>)) {
            return null;
        }
        return new MigrationState(string(resource, "status", "migrationState", "migrationUid"),
                string(resource, "status", "migrationState", "sourceNode"),
                string(resource, "status", "migrationState", "targetNode"),
                string(resource, "status", "migrationState", "targetPod"));
    }

    private static @Nullable String string(GenericKubernetesResource resource, Object... path) {
        return resource.get(path) instanceof String value && !value.isBlank() ? value : null;
    }

    private KubevirtObjects() {
    }
}
