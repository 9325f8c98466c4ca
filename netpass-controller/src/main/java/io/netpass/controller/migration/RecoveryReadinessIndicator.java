package io.netpass.controller.migration;

import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.availability.AvailabilityState;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.health.application.ReadinessStateHealthIndicator;
import org.springframework.boot.health.contributor.Health;

/**
 * The readiness probe ({@code /actuator/health/readiness}): Spring Boot's readiness state, and refusing while
 * recovery is still going on, so that no moment between Boot's announcement and {@link RecoveryProgress}'s answer
 * reads as ready. Its details say where recovery is and which agents could not be read.
 */
final class RecoveryReadinessIndicator extends ReadinessStateHealthIndicator {

    private final RecoveryProgress progress;

    RecoveryReadinessIndicator(ApplicationAvailability availability, RecoveryProgress progress) {
        super(availability);
        this.progress = progress;
    }

    @Override
    protected AvailabilityState getState(ApplicationAvailability availability) {
        return progress.phase().done() ? super.getState(availability) : ReadinessState.REFUSING_TRAFFIC;
    }

    @Override
    protected void doHealthCheck(Health.Builder builder) throws Exception {
        super.doHealthCheck(builder);
        builder.withDetail("recovery", progress.phase().name()).withDetail("agentsNotRead", progress.agentsNotRead());
    }
}
