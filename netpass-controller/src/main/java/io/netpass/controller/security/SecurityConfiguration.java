package io.netpass.controller.security;

import io.netpass.common.security.TokenFile;
import java.util.Objects;

import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import tools.jackson.databind.json.JsonMapper;

/** Wires the token files and the filter that checks callers' tokens. */
@Configuration(proxyBeanMethods = false)
class SecurityConfiguration {

    @Bean
    TokenFile callerTokens(ControllerSecurityProperties security) {
        return new TokenFile(Objects.requireNonNull(security.callerTokenFile(),
                "netpass.controller.security.caller-token-file is required"), security.tokenRefresh());
    }

    @Bean
    TokenFile agentTokens(ControllerSecurityProperties security) {
        return new TokenFile(Objects.requireNonNull(security.agentTokenFile(),
                "netpass.controller.security.agent-token-file is required"), security.tokenRefresh());
    }

    @Bean
    BearerTokenFilter bearerTokenFilter(@Qualifier("callerTokens") TokenFile callerTokens,
            ControllerSecurityProperties security, JsonMapper json) {
        TokenFile registration = security.agentRegistrationTokenFile() == null ? null
                : new TokenFile(security.agentRegistrationTokenFile(), security.tokenRefresh());
        return new BearerTokenFilter(callerTokens, registration, json);
    }
}
