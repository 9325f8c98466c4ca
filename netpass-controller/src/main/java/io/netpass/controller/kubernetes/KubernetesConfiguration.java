package io.netpass.controller.kubernetes;

import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.netpass.controller.agents.AgentDirectory;

/** Wires the Kubernetes client when KubeVirt watching or agent discovery asks for it, and agent discovery. */
@Configuration(proxyBeanMethods = false)
class KubernetesConfiguration {

    private static final String DEFAULT_NAMESPACE = "default";

    @Bean(destroyMethod = "close")
    @ConditionalOnExpression("${netpass.controller.kubevirt.enabled:false} "
            + "or ${netpass.controller.kubernetes.agent-discovery.enabled:false}")
    KubernetesClient kubernetesClient(KubernetesProperties properties) {
        ConfigBuilder config = new ConfigBuilder(Config.autoConfigure(null));
        if (properties.masterUrl() != null) {
            config.withMasterUrl(properties.masterUrl().toString());
        }
        Config built = config.build();
        if (built.getMasterUrl() != null && built.getMasterUrl().startsWith("http:")) {
            // Cleartext (kubectl proxy, a test server): the JDK client's h2c upgrade is not understood there.
            built.setHttp2Disable(true);
        }
        if (properties.namespace() != null) {
            built.setNamespace(properties.namespace());
        } else if (built.getNamespace() == null) {
            built.setNamespace(DEFAULT_NAMESPACE);
        }
        return new KubernetesClientBuilder().withConfig(built).withHttpClientFactory(new JdkHttpClientFactory())
                .build();
    }

    @Bean(initMethod = "start", destroyMethod = "close")
    @ConditionalOnProperty("netpass.controller.kubernetes.agent-discovery.enabled")
    AgentPods agentPods(KubernetesClient client, KubernetesProperties properties, AgentDirectory directory) {
        String namespace = properties.agentDiscovery().namespace() != null
                ? properties.agentDiscovery().namespace() : client.getNamespace();
        return new AgentPods(client, namespace, properties.agentDiscovery(), directory);
    }
}
