package io.netpass.controller.migration;

import java.nio.file.Path;
import java.time.Duration;

import jakarta.validation.constraints.NotNull;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How the controller takes over migrations after a restart ({@code netpass.controller.recovery.*}). The agents are
 * the source of truth: their sessions are read at start and periodically.
 *
 * @param interval how often every known agent's sessions are read to adopt migrations the controller does not know
 *     and to disarm sessions of finished ones. Default 30s.
 * @param stateDirectory optional directory where each active migration is kept as a JSON file (written atomically),
 *     so that a rebuilt migration also has its VM, Idempotency-Key and NIC MACs, which agents do not know. Default
 *     none: rebuilt from the agents alone. With it, the orchestrator's events of those migrations are kept there
 *     too, and finished migrations with their reports (in {@code finished/}, at most
 *     {@code coordination.retain-finished}), served after a restart as they were.
 * @param readinessTimeout the longest the controller reports itself not ready after a start while it reads the
 *     state directory and every known agent's sessions once; after it, it is ready anyway, and the readiness
 *     probe's details list the agents not read yet (recovery goes on). Default 10s.
 */
@ConfigurationProperties("netpass.controller.recovery")
@Validated
public record RecoveryProperties(
        @NotNull @DefaultValue("30s") Duration interval,
        @Nullable Path stateDirectory,
        @NotNull @DefaultValue("10s") Duration readinessTimeout) {
}
