package io.netpass.controller.kubevirt;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;

/** The fields read from KubeVirt's objects, on objects shaped as {@code kubectl get -o json} shows them. */
class KubevirtObjectsTest {

    private static final String MIGRATION = """
            {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration",
             "metadata":{"name":"migration-job","namespace":"apps","uid":"6a0f3c2e-1d0b-4b8e-9a55-3b1c1b8f0c11",
                         "labels":{"kubevirt.io/vmi-name":"vm-fedora"}},
             "spec":{"vmiName":"vm-fedora"},
             "status":{"phase":"Running",
                       "phaseTransitionTimestamps":[{"phase":"Pending","phaseTransitionTimestamp":"2026-11-26T01:00:00Z"},
                                                    {"phase":"Running","phaseTransitionTimestamp":"2026-11-26T01:00:09Z"}],
                       "migrationState":{"migrationUid":"6a0f3c2e-1d0b-4b8e-9a55-3b1c1b8f0c11",
                                         "sourceNode":"node01","sourcePod":"virt-launcher-vm-fedora-abcde",
                                         "targetNode":"node02","targetPod":"virt-launcher-vm-fedora-fghij",
                                         "targetNodeAddress":"10.244.1.7","mode":"PreCopy",
                                         "startTimestamp":"2026-11-26T01:00:09Z"}}}
            """;

    private static final String VMI = """
            {"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance",
             "metadata":{"name":"vm-fedora","namespace":"apps","labels":{"kubevirt.io/nodeName":"node01"},
                         "annotations":{"netpass.io/enabled":"true"}},
             "spec":{"domain":{"devices":{"interfaces":[{"name":"default","masquerade":{}},
                                                        {"name":"storage","bridge":{}}]}}},
             "status":{"phase":"Running","nodeName":"node01","migrationMethod":"LiveMigration",
                       "interfaces":[{"name":"default","mac":"52:54:00:AB:CD:01","interfaceName":"eth0",
                                      "ipAddress":"10.0.2.2","infoSource":"domain, guest-agent","queueCount":1},
                                     {"name":"storage","mac":"52:54:00:ab:cd:02","infoSource":"domain"},
                                     {"interfaceName":"lo","infoSource":"guest-agent"}]}}
            """;

    @Test
    void aMigrationGivesItsVmiPhaseAndNodes() {
        KubevirtObjects.Migration migration = KubevirtObjects.Migration.of(
                Serialization.unmarshal(MIGRATION, GenericKubernetesResource.class));

        assertThat(migration.namespace()).isEqualTo("apps");
        assertThat(migration.uid()).isEqualTo("6a0f3c2e-1d0b-4b8e-9a55-3b1c1b8f0c11");
        assertThat(migration.vmiName()).isEqualTo("vm-fedora");
        assertThat(migration.phase()).isEqualTo(KubevirtObjects.Phase.RUNNING);
        assertThat(migration.phase().armable()).isTrue();
        assertThat(migration.state()).isNotNull();
        assertThat(migration.state().sourceNode()).isEqualTo("node01");
        assertThat(migration.state().targetNode()).isEqualTo("node02");
        assertThat(migration.state().nodesKnown()).isTrue();
    }

    @Test
    void aVmiGivesItsMacsInLowerCaseAndItsOptInMark() {
        KubevirtObjects.Vmi vmi = KubevirtObjects.Vmi.of(Serialization.unmarshal(VMI, GenericKubernetesResource.class));

        assertThat(vmi.macs()).containsExactly("52:54:00:ab:cd:01", "52:54:00:ab:cd:02");
        assertThat(vmi.marked("netpass.io/enabled")).isEqualTo("true");
        assertThat(vmi.state()).isNull();
    }

    @Test
    void onlyTargetReadyAndRunningAreTimesToArm() {
        assertThat(KubevirtObjects.Phase.values()).filteredOn(KubevirtObjects.Phase::armable)
                .containsExactly(KubevirtObjects.Phase.TARGET_READY, KubevirtObjects.Phase.RUNNING);
        assertThat(KubevirtObjects.Phase.of("WaitingForSync")).isEqualTo(KubevirtObjects.Phase.UNSET);
        assertThat(KubevirtObjects.Phase.of(null)).isEqualTo(KubevirtObjects.Phase.UNSET);
    }
}
