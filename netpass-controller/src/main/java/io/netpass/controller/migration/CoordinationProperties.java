package io.netpass.controller.migration;

import java.time.Duration;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How the controller watches migrations ({@code netpass.controller.coordination.*}).
 *
 * @param pollInterval how often the agents' sessions of every active migration are read. Default 1s.
 * @param pollConcurrency how many migrations are read at once. Default 32.
 * @param armedTimeout longest time ARMED without a switchover; then both sides are disarmed and the migration
 *     EXPIRED. Keep it at most the agents' own {@code netpass.agent.forwarding.armed-timeout}. Default 30m.
 * @param switchingTimeout longest time SWITCHING (source paused, or destination seen running) until both sides
 *     finished: covers a destination that never resumes and forwarding that never ends. Default 60s.
 * @param agentLostAfter an agent unreachable this long while a migration is active makes it DEGRADED. Must be well
 *     above the agents' forwarding deadline, since disarming a source cuts its forwarding. Default 30s.
 * @param retainFinished finished migrations kept for the API, oldest forgotten first; with a state directory, also
 *     how many finished migrations are kept there across restarts. Default 10000.
 */
@ConfigurationProperties("netpass.controller.coordination")
@Validated
public record CoordinationProperties(
        @NotNull @DefaultValue("1s") Duration pollInterval,
        @Min(1) @Max(1024) @DefaultValue("32") int pollConcurrency,
        @NotNull @DefaultValue("30m") Duration armedTimeout,
        @NotNull @DefaultValue("60s") Duration switchingTimeout,
        @NotNull @DefaultValue("30s") Duration agentLostAfter,
        @Min(0) @DefaultValue("10000") int retainFinished) {
}
