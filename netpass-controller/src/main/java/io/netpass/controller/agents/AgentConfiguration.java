package io.netpass.controller.agents;

import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.client.WebClient;

import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.common.security.TokenFile;

/** Wires the agent directory and the client that calls agents. */
@Configuration(proxyBeanMethods = false)
class AgentConfiguration {

    @Bean
    AgentDirectory agentDirectory(AgentProperties properties) {
        return new AgentDirectory(properties);
    }

    @Bean(destroyMethod = "close")
    AgentClient agentClient(AgentProperties properties, @Qualifier("agentTokens") TokenFile agentTokens,
            ControllerMeters meters, SslBundles bundles) {
        // A client of its own (Boot 4 no longer auto-configures a WebClient.Builder without spring-boot-webclient):
        // agents get Jackson's defaults, and AgentSession ignores fields newer agents add.
        String bundle = properties.agentCalls().tlsBundle();
        AgentClient client = new AgentClient(WebClient.builder(), properties.agentCalls(), agentTokens::first, meters,
                bundle == null ? null : bundles.getBundle(bundle));
        if (bundle != null) {
            bundles.addBundleUpdateHandler(bundle, client::useTls);
        }
        return client;
    }
}
