package io.netpass.controller.kubevirt;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.kubernetes.KubernetesProperties;
import io.netpass.controller.kubernetes.Leadership;
import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.migration.MigrationCoordinator;
import io.netpass.controller.migration.Migrations;
import tools.jackson.databind.json.JsonMapper;

/** Wires KubeVirt watching, behind leader election unless that is turned off. */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty("netpass.controller.kubevirt.enabled")
class KubevirtConfiguration {

    @Bean(destroyMethod = "close")
    KubevirtMigrations kubevirtMigrations(KubernetesClient client, KubevirtProperties properties,
            MigrationCoordinator coordinator, Migrations migrations, AgentDirectory directory, JsonMapper json,
            ControllerMeters meters) {
        return new KubevirtMigrations(client, properties, coordinator, migrations, directory, json, meters);
    }

    /** Starts watching once the application runs (the REST API and agents are up), stops first on shutdown. */
    @Bean
    SmartLifecycle kubevirtWatching(KubevirtMigrations kubevirt, KubernetesClient client,
            KubernetesProperties kubernetes) {
        KubernetesProperties.LeaderElection election = kubernetes.leaderElection();
        Leadership leadership = election.enabled()
                ? new Leadership(client, client.getNamespace(), election, kubevirt::startWatching,
                        kubevirt::stopWatching)
                : null;
        return new SmartLifecycle() {
            private volatile boolean running;

            @Override
            public void start() {
                if (leadership != null) {
                    leadership.start();
                } else {
                    kubevirt.startWatching();
                }
                running = true;
            }

            @Override
            public void stop() {
                if (leadership != null) {
                    leadership.close();
                }
                kubevirt.stopWatching();
                running = false;
            }

            @Override
            public boolean isRunning() {
                return running;
            }
        };
    }
}
