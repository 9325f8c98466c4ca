package io.netpass.controller.kubernetes;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

import org.jspecify.annotations.Nullable;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.netpass.controller.agents.AgentDirectory;

/**
 * Keeps the agent directory in step with the agent DaemonSet: a ready agent pod is its node's agent, named after the
 * node; a pod that is deleted, not ready or moved is forgotten. Runs on every replica: each one's REST API and
 * coordinator need the agents.
 */
public final class AgentPods implements AutoCloseable {

    /** Pod events are what matters; a resync only repeats them (the directory ignores repeats). */
    private static final Duration RESYNC = Duration.ZERO;

    /** An agent as a pod gives it: its node and URL. */
    private record PodAgent(String node, URI baseUrl) {
    }

    private final KubernetesClient client;
    private final String namespace;
    private final KubernetesProperties.AgentDiscovery properties;
    private final AgentDirectory directory;
    /** What each pod (by uid) contributed, so that a changed or deleted pod withdraws exactly that. */
    private final Map<String, PodAgent> byPod = new ConcurrentHashMap<>();
    private @Nullable SharedIndexInformer<Pod> informer;

    public AgentPods(KubernetesClient client, String namespace, KubernetesProperties.AgentDiscovery properties,
            AgentDirectory directory) {
        this.client = client;
        this.namespace = namespace;
        this.properties = properties;
        this.directory = directory;
    }

    public synchronized void start() {
        if (informer != null) {
            return;
        }
        informer = Watches.start(client.pods().inNamespace(namespace).withLabelSelector(properties.labelSelector()),
                new ResourceEventHandler<Pod>() {
                    @Override
                    public void onAdd(Pod pod) {
                        seen(pod);
                    }

                    @Override
                    public void onUpdate(Pod old, Pod pod) {
                        seen(pod);
                    }

                    @Override
                    public void onDelete(Pod pod, boolean finalStateUnknown) {
                        withdraw(pod.getMetadata().getUid());
                    }
                }, RESYNC, "agent pods " + properties.labelSelector() + " in " + namespace);
    }

    private void seen(Pod pod) {
        String uid = pod.getMetadata().getUid();
        PodAgent agent = agentOf(pod);
        PodAgent before = agent == null ? byPod.remove(uid) : byPod.put(uid, agent);
        if (before != null && !before.equals(agent)) {
            directory.undiscovered(before.node(), before.baseUrl());
        }
        if (agent != null) {
            directory.discovered(agent.node(), agent.baseUrl());
        }
    }

    private void withdraw(String uid) {
        PodAgent before = byPod.remove(uid);
        if (before != null) {
            directory.undiscovered(before.node(), before.baseUrl());
        }
    }

    /** The agent a pod stands for, or null while it is not (yet, or any more) one that can be called. */
    private @Nullable PodAgent agentOf(Pod pod) {
        if (pod.getMetadata().getDeletionTimestamp() != null || pod.getSpec() == null || pod.getStatus() == null) {
            return null;
        }
        String node = pod.getSpec().getNodeName();
        String address = switch (properties.address()) {
            case POD_IP -> pod.getStatus().getPodIP();
            case HOST_IP -> pod.getStatus().getHostIP();
        };
        boolean ready = "Running".equals(pod.getStatus().getPhase()) && pod.getStatus().getConditions() != null
                && pod.getStatus().getConditions().stream()
                        .anyMatch(condition -> "Ready".equals(condition.getType())
                                && "True".equals(condition.getStatus()));
        if (node == null || address == null || address.isBlank() || !ready) {
            return null;
        }
        String host = address.contains(":") ? "[" + address + "]" : address;
        return new PodAgent(node, URI.create(properties.scheme() + "://" + host + ":" + properties.port()));
    }

    @Override
    public synchronized void close() {
        if (informer != null) {
            Objects.requireNonNull(informer).close();
            informer = null;
        }
    }
}
