package io.netpass.agent.registration;

import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

import io.micrometer.core.instrument.binder.MeterBinder;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.boot.web.server.Ssl;
import org.springframework.boot.web.server.autoconfigure.ServerProperties;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import io.netpass.agent.metrics.AgentMeters;
import io.netpass.agent.security.AgentSecurityProperties;
import io.netpass.common.security.TokenFile;

/**
 * Wires registration with the controller when {@code netpass.agent.registration.controller-url} is set. What cannot
 * work (no token file, no name, no URL to advertise) fails the start, with the property to set; the controller being
 * unreachable never does.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty("netpass.agent.registration.controller-url")
class RegistrationConfiguration {

    private static final Path KERNEL_HOSTNAME = Path.of("/proc/sys/kernel/hostname");

    @Bean(destroyMethod = "close")
    ControllerRegistration controllerRegistration(RegistrationProperties registration,
            AgentSecurityProperties security, SslBundles bundles) {
        Path tokenFile = Objects.requireNonNull(registration.tokenFile(),
                "netpass.agent.registration.token-file is required when registration is on");
        TokenFile token = new TokenFile(tokenFile, security.tokenRefresh());
        String bundle = registration.tlsBundle();
        ControllerRegistration controller = new ControllerRegistration(registration,
                Objects.requireNonNull(registration.controllerUrl()), agentName(registration), token::first,
                bundle == null ? null : bundles.getBundle(bundle));
        if (bundle != null) {
            bundles.addBundleUpdateHandler(bundle, controller::useTls);
        }
        return controller;
    }

    /** Starts registering once the agent is ready, with the port its API really listens on. */
    @Bean
    ApplicationListener<ApplicationReadyEvent> registrationStart(ControllerRegistration registration,
            RegistrationProperties properties, ServerProperties server) {
        String schemeAndHost = properties.advertisedUrl() == null ? schemeAndHost(server) : null;
        return event -> {
            URI advertised = properties.advertisedUrl();
            if (advertised == null && event.getApplicationContext() instanceof WebServerApplicationContext web) {
                advertised = URI.create(schemeAndHost + ":" + web.getWebServer().getPort());
            }
            registration.start(Objects.requireNonNull(advertised, "no web server to advertise"));
        };
    }

    /**
     * {@code registration} in /actuator/health: UP while registered, else UNKNOWN, which does not pull the agent's
     * health down: it works without the controller.
     */
    @Bean
    HealthIndicator registrationHealthIndicator(ControllerRegistration registration) {
        return () -> {
            ControllerRegistration.Status status = registration.status();
            Health.Builder health = status.state() == ControllerRegistration.State.REGISTERED ? Health.up()
                    : Health.status(Status.UNKNOWN);
            health.withDetail("state", status.state().name())
                    .withDetail("controller", registration.controllerUrl().toString())
                    .withDetail("name", registration.name());
            if (registration.advertisedUrl() != null) {
                health.withDetail("advertisedUrl", String.valueOf(registration.advertisedUrl()));
            }
            if (status.lastRegisteredAt() != null) {
                health.withDetail("lastRegisteredAt", String.valueOf(status.lastRegisteredAt()));
            }
            if (status.lastFailure() != null) {
                health.withDetail("lastFailure", String.valueOf(status.lastFailure()));
            }
            return health.build();
        };
    }

    @Bean
    MeterBinder registrationMeters(ControllerRegistration registration) {
        return registry -> AgentMeters.bindRegistration(registry, registration);
    }

    private static String agentName(RegistrationProperties registration) {
        if (registration.agentName() != null) {
            return registration.agentName();
        }
        String host = hostName();
        if (host == null || !host.matches(RegistrationProperties.AGENT_NAME)) {
            throw new IllegalStateException("the host name '" + host + "' is no valid agent name: set "
                    + "netpass.agent.registration.agent-name");
        }
        return host;
    }

    private static @Nullable String hostName() {
        try {
            return Files.readString(KERNEL_HOSTNAME).strip();
        } catch (IOException e) {
            return null;
        }
    }

    /** {@code http(s)://ADDRESS} from {@code server.address}, which must name one address. */
    private static String schemeAndHost(ServerProperties server) {
        InetAddress address = server.getAddress();
        if (address == null || address.isAnyLocalAddress()) {
            throw new IllegalStateException("netpass.agent.registration.advertised-url is required: server.address "
                    + "is " + (address == null ? "unset" : address.getHostAddress())
                    + ", so which address the controller and the other agents reach this agent at is not known");
        }
        String host = address.getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return (Ssl.isEnabled(server.getSsl()) ? "https" : "http") + "://" + host;
    }
}
