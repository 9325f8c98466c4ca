package io.netpass.controller.migration;

import java.io.IOException;
import java.util.Objects;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import io.netpass.controller.agents.AgentClient;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.agents.AgentProperties;
import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.security.ControllerSecurityProperties;
import tools.jackson.databind.json.JsonMapper;

/** Wires the migration registry, its listeners, the coordinator and recovery. */
@Configuration(proxyBeanMethods = false)
class MigrationConfiguration {

    @Bean(destroyMethod = "close")
    @ConditionalOnProperty("netpass.controller.recovery.state-directory")
    MigrationStateFiles migrationStateFiles(RecoveryProperties recovery, CoordinationProperties coordination,
            JsonMapper json, ControllerMeters meters) throws IOException {
        return new MigrationStateFiles(Objects.requireNonNull(recovery.stateDirectory()),
                coordination.retainFinished(), json, meters);
    }

    @Bean
    Migrations migrations(CoordinationProperties coordination, ControllerMeters meters,
            ObjectProvider<MigrationStateFiles> files) {
        Migrations migrations = new Migrations(coordination.retainFinished());
        migrations.addListener(new MigrationMeters(meters));
        files.ifAvailable(migrations::addListener);
        return migrations;
    }

    @Bean(destroyMethod = "close")
    MigrationCoordinator migrationCoordinator(Migrations migrations, AgentClient agents, AgentDirectory directory,
            CoordinationProperties coordination, ControllerSecurityProperties security) {
        return new MigrationCoordinator(migrations, agents, directory, coordination, security.knownAgentsOnly());
    }

    @Bean
    RecoveryProgress recoveryProgress(ApplicationEventPublisher events) {
        return new RecoveryProgress(events);
    }

    /** Replaces Spring Boot's readiness indicator (same bean name): not ready while recovery goes on. */
    @Bean
    RecoveryReadinessIndicator readinessStateHealthIndicator(ApplicationAvailability availability,
            RecoveryProgress progress) {
        return new RecoveryReadinessIndicator(availability, progress);
    }

    @Bean(initMethod = "start", destroyMethod = "close")
    MigrationRecovery migrationRecovery(Migrations migrations, MigrationCoordinator coordinator, AgentClient agents,
            AgentDirectory directory, RecoveryProperties recovery, ObjectProvider<MigrationStateFiles> files,
            RecoveryProgress progress, AgentProperties agentProperties) {
        return new MigrationRecovery(migrations, coordinator, agents, directory, recovery, files.getIfAvailable(),
                progress, agentProperties.agentStaleAfter());
    }
}
