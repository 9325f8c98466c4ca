package io.netpass.controller.agents;

import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.client.WebClient;

import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.security.TokenFile;

/** Wires the agent directory and the client that calls agents. */
@Configuration(proxyBeanMethods = false)
class AgentConfiguration {

    @Bean
    AgentDirectory agentDirectory(AgentProperties properties) {
        return new AgentDirectory(properties);
    }

    @Bean(destroyMethod = "close")
    AgentClient agentClient(WebClient.Builder builder, AgentProperties properties,
            @Qualifier("agentTokens") TokenFile agentTokens, ControllerMeters meters) {
        return new AgentClient(builder, properties.agentCalls(), agentTokens::first, meters);
    }
}
