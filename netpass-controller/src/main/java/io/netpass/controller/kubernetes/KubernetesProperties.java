package io.netpass.controller.kubernetes;

import java.net.URI;
import java.time.Duration;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How the controller uses the Kubernetes API ({@code netpass.controller.kubernetes.*}). The client is created only
 * when something needs it: KubeVirt watching ({@code netpass.controller.kubevirt.enabled}) or agent discovery.
 *
 * @param masterUrl the API server; default absent: from the environment as kubectl finds it (the pod's service
 *     account in a cluster, else {@code KUBECONFIG} or {@code ~/.kube/config}, or {@code KUBERNETES_MASTER})
 * @param namespace the controller's own namespace, where the Lease and (by default) the agent pods are; default
 *     absent: the service account's namespace, else {@code default}
 * @param agentDiscovery the agents as pods of the agent DaemonSet
 * @param leaderElection which replica drives KubeVirt migrations
 */
@ConfigurationProperties("netpass.controller.kubernetes")
@Validated
public record KubernetesProperties(
        @Nullable URI masterUrl,
        @Nullable String namespace,
        @Valid @NotNull @DefaultValue AgentDiscovery agentDiscovery,
        @Valid @NotNull @DefaultValue LeaderElection leaderElection) {

    /** Which address of an agent pod the controller calls. */
    public enum AgentAddress {
        /** The pod's IP (the node's own IP with {@code hostNetwork}, as the agent chart runs it). */
        POD_IP,
        /** The IP of the pod's node. */
        HOST_IP
    }

    /**
     * Agents found as pods: every ready pod matching {@code labelSelector} in {@code namespace} is the agent of its
     * node, named after the node, at {@code scheme://ADDRESS:port}.
     *
     * @param enabled whether to discover agents. Default false.
     * @param namespace where the agent pods run; default absent: the controller's namespace
     * @param labelSelector which pods are agents. Default {@code app.kubernetes.io/name=netpass-agent}.
     * @param port the agents' API port. Default 7070.
     * @param scheme {@code http} or {@code https}. Default http.
     * @param address which address to call. Default POD_IP.
     */
    public record AgentDiscovery(
            @DefaultValue("false") boolean enabled,
            @Nullable String namespace,
            @NotBlank @DefaultValue("app.kubernetes.io/name=netpass-agent") String labelSelector,
            @Min(1) @Max(65535) @DefaultValue("7070") int port,
            @NotBlank @DefaultValue("http") String scheme,
            @NotNull @DefaultValue("POD_IP") AgentAddress address) {
    }

    /**
     * Leader election over a {@code coordination.k8s.io/v1} Lease: only the leader reconciles KubeVirt objects.
     *
     * @param enabled whether to elect; without it every replica reconciles (safe with one replica only). Default
     *     true.
     * @param leaseName the Lease's name. Default {@code netpass-controller}.
     * @param identity this replica's name in the Lease; default absent: the {@code HOSTNAME} (the pod's name), else
     *     a random one
     * @param leaseDuration how long a leader that stopped renewing is still the leader. Default 15s.
     * @param renewDeadline how long the leader keeps trying to renew before it steps down. Default 10s.
     * @param retryPeriod how often candidates try and the leader renews. Default 2s.
     */
    public record LeaderElection(
            @DefaultValue("true") boolean enabled,
            @NotBlank @DefaultValue("netpass-controller") String leaseName,
            @Nullable String identity,
            @NotNull @DefaultValue("15s") Duration leaseDuration,
            @NotNull @DefaultValue("10s") Duration renewDeadline,
            @NotNull @DefaultValue("2s") Duration retryPeriod) {
    }
}
