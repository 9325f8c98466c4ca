package io.netpass.agent;

import java.util.Objects;

import org.springframework.boot.ssl.SslBundles;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import io.netpass.agent.capture.ArmedTaps;
import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.discovery.DiscoveryProperties;
import io.netpass.agent.discovery.VmDiscovery;
import io.netpass.agent.linux.ThreadPriority;
import io.netpass.agent.migration.ForwardingProperties;
import io.netpass.agent.metrics.AgentMeters;
import io.netpass.agent.migration.MigrationSessions;
import io.netpass.agent.security.AgentSecurityProperties;
import io.netpass.agent.security.CallerAuthenticationFilter;
import io.netpass.agent.security.TapPolicy;
import io.netpass.common.security.TokenFile;
import io.netpass.agent.stream.FinalCountDatagrams;
import io.netpass.agent.stream.FinalCountProperties;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.stream.PeerTlsProperties;

/** Wires the agent's parts together. */
@Configuration(proxyBeanMethods = false)
class AgentConfiguration {

    @Bean
    ArmedTaps armedTaps(CaptureProperties capture) {
        return new ArmedTaps(capture);
    }

    @Bean
    TokenFile controllerTokens(AgentSecurityProperties security) {
        return new TokenFile(Objects.requireNonNull(security.controllerTokenFile(),
                "netpass.agent.security.controller-token-file is required"), security.tokenRefresh());
    }

    @Bean
    TokenFile peerTokens(AgentSecurityProperties security) {
        return new TokenFile(Objects.requireNonNull(security.peerTokenFile(),
                "netpass.agent.security.peer-token-file is required"), security.tokenRefresh());
    }

    @Bean
    CallerAuthenticationFilter callerAuthenticationFilter(TokenFile controllerTokens, TokenFile peerTokens,
            AgentSecurityProperties security) {
        return new CallerAuthenticationFilter(controllerTokens, peerTokens, security);
    }

    @Bean
    VmDiscovery vmDiscovery(DiscoveryProperties discovery) {
        return new VmDiscovery(discovery);
    }

    @Bean
    TapPolicy tapPolicy(AgentSecurityProperties security, VmDiscovery discovery) {
        return new TapPolicy(security, discovery::isQemu);
    }

    @Bean
    PeerClient peerClient(TokenFile peerTokens, PeerTlsProperties peerTls, SslBundles bundles) {
        String bundle = peerTls.bundle();
        if (bundle == null) {
            return new PeerClient(peerTokens::first);
        }
        PeerClient client = new PeerClient(bundles.getBundle(bundle), peerTokens::first);
        bundles.addBundleUpdateHandler(bundle, client::useTls);
        return client;
    }

    @Bean
    AgentMeters agentMeters(MigrationSessions sessions) {
        return new AgentMeters(sessions);
    }

    @Bean(destroyMethod = "close")
    FinalCountDatagrams finalCountDatagrams(FinalCountProperties finalCount, ForwardingProperties forwarding) {
        // Before the first release-path thread starts: the datagrams' receiver is one.
        ThreadPriority.configure(forwarding.releasePathNice(), forwarding.burstRealTimePriority(),
                forwarding.burstRealTimeLimit());
        return new FinalCountDatagrams(finalCount);
    }

    @Bean(destroyMethod = "close")
    MigrationSessions migrationSessions(ArmedTaps taps, CaptureProperties capture, ForwardingProperties forwarding,
            PeerClient peers, FinalCountDatagrams finalCountDatagrams) {
        return new MigrationSessions(taps, capture, forwarding, peers, finalCountDatagrams);
    }
}
