package io.netpass.controller.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.agents.AgentProperties;
import io.netpass.controller.testing.KubevirtCluster;

class AgentPodsTest {

    private static final String NAMESPACE = "netpass";
    private static final String SELECTOR = "app.kubernetes.io/name=netpass-agent";

    private KubevirtCluster cluster;
    private AgentDirectory directory;
    private AgentPods pods;

    @BeforeEach
    void start() {
        cluster = new KubevirtCluster();
    }

    @AfterEach
    void stop() {
        if (pods != null) {
            pods.close();
        }
        cluster.close();
    }

    private void discover(KubernetesProperties.AgentAddress address, List<AgentProperties.StaticAgent> configured) {
        directory = new AgentDirectory(new AgentProperties(configured, new AgentProperties.AgentCalls(
                Duration.ofMillis(500), Duration.ofSeconds(2), 8, null), Duration.ofSeconds(30)));
        pods = new AgentPods(cluster.client(), NAMESPACE, new KubernetesProperties.AgentDiscovery(true, null,
                SELECTOR, 7070, "http", address), directory);
        pods.start();
    }

    private Pod agentPod(String name, String node, String podIp, boolean ready) {
        Pod pod = new PodBuilder()
                .withNewMetadata().withNamespace(NAMESPACE).withName(name)
                    .addToLabels("app.kubernetes.io/name", "netpass-agent").endMetadata()
                .withNewSpec().withNodeName(node).withHostNetwork(true).endSpec()
                .withNewStatus().withPhase("Running").withPodIP(podIp).withHostIP("192.0.2.10")
                    .addNewCondition().withType("Ready").withStatus(ready ? "True" : "False").endCondition()
                .endStatus().build();
        return cluster.client().pods().inNamespace(NAMESPACE).resource(pod).createOr(existing -> existing.update());
    }

    @Test
    void aReadyAgentPodIsItsNodesAgentAtItsPodIp() {
        discover(KubernetesProperties.AgentAddress.POD_IP, List.of());
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);
        agentPod("netpass-agent-x2", "node-2", "fd00::12", true);

        awaitTrue(() -> directory.named("node-2").isPresent() && directory.named("node-1").isPresent());
        AgentDirectory.KnownAgent agent = directory.named("node-1").orElseThrow();
        assertThat(agent.baseUrl()).isEqualTo(URI.create("http://10.1.0.11:7070"));
        assertThat(agent.origin()).isEqualTo(AgentDirectory.Origin.DISCOVERED);
        assertThat(directory.named("node-2").orElseThrow().baseUrl()).isEqualTo(URI.create("http://[fd00::12]:7070"));
        assertThat(directory.knows(URI.create("http://10.1.0.11:7070"))).isTrue();
    }

    @Test
    void theHostIpCanBeCalledInstead() {
        discover(KubernetesProperties.AgentAddress.HOST_IP, List.of());
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);

        awaitTrue(() -> directory.named("node-1").isPresent());
        assertThat(directory.named("node-1").orElseThrow().baseUrl()).isEqualTo(URI.create("http://192.0.2.10:7070"));
    }

    @Test
    void anAgentPodThatIsNotReadyOrDeletedIsNoAgent() {
        discover(KubernetesProperties.AgentAddress.POD_IP, List.of());
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", false);
        agentPod("netpass-agent-x2", "node-2", "10.1.0.12", true);
        awaitTrue(() -> directory.named("node-2").isPresent());
        assertThat(directory.named("node-1")).isEmpty();

        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);
        awaitTrue(() -> directory.named("node-1").isPresent());
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", false);
        awaitTrue(() -> directory.named("node-1").isEmpty());

        cluster.client().pods().inNamespace(NAMESPACE).withName("netpass-agent-x2").delete();
        awaitTrue(() -> directory.named("node-2").isEmpty());
    }

    @Test
    void podsWithoutTheAgentLabelAreIgnored() {
        discover(KubernetesProperties.AgentAddress.POD_IP, List.of());
        cluster.client().pods().inNamespace(NAMESPACE).resource(new PodBuilder()
                .withNewMetadata().withNamespace(NAMESPACE).withName("other").addToLabels("app", "other")
                .endMetadata().withNewSpec().withNodeName("node-9").endSpec()
                .withNewStatus().withPhase("Running").withPodIP("10.1.0.99").addNewCondition().withType("Ready")
                .withStatus("True").endCondition().endStatus().build()).create();
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);

        awaitTrue(() -> directory.named("node-1").isPresent());
        assertThat(directory.named("node-9")).isEmpty();
    }

    @Test
    void aConfiguredAgentOfTheSameNameWins() {
        discover(KubernetesProperties.AgentAddress.POD_IP,
                List.of(new AgentProperties.StaticAgent("node-1", URI.create("http://10.9.9.9:7070"))));
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);
        agentPod("netpass-agent-x2", "node-2", "10.1.0.12", true);

        awaitTrue(() -> directory.named("node-2").isPresent());
        Optional<AgentDirectory.KnownAgent> configured = directory.named("node-1");
        assertThat(configured.orElseThrow().origin()).isEqualTo(AgentDirectory.Origin.STATIC);
        assertThat(configured.orElseThrow().baseUrl()).isEqualTo(URI.create("http://10.9.9.9:7070"));
    }

    @Test
    void anAgentThatRegisteredItselfUnderTheNodesNameIsKept() {
        discover(KubernetesProperties.AgentAddress.POD_IP, List.of());
        directory.register("node-1", URI.create("http://10.1.0.11:7071"));
        agentPod("netpass-agent-x1", "node-1", "10.1.0.11", true);
        agentPod("netpass-agent-x2", "node-2", "10.1.0.12", true);

        awaitTrue(() -> directory.named("node-2").isPresent());
        assertThat(directory.named("node-1").orElseThrow().origin()).isEqualTo(AgentDirectory.Origin.REGISTERED);
        assertThat(directory.named("node-1").orElseThrow().baseUrl()).isEqualTo(URI.create("http://10.1.0.11:7071"));
    }

    private static void awaitTrue(BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 10s").isLessThan(deadline);
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
