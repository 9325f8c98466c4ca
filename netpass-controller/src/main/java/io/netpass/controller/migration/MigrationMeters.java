package io.netpass.controller.migration;

import java.time.Duration;
import java.time.Instant;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.metrics.ControllerMeters.Phase;

/** Feeds migrations' state changes and final reports into the controller's meters. */
final class MigrationMeters implements MigrationListener {

    private final ControllerMeters meters;

    MigrationMeters(ControllerMeters meters) {
        this.meters = meters;
    }

    @Override
    public void stateChanged(Migration migration, @Nullable MigrationState from, MigrationState to) {
        meters.stateChanged(from == null ? "" : from.tag(), to.tag());
        if (from == null && !to.active()) {
            return; // a finished migration read back from the state directory was counted before the restart
        }
        MigrationSnapshot now = migration.snapshot();
        switch (to) {
            case ARMED -> {
                if (!migration.recovered()) {
                    meters.phase(Phase.ARMING, between(now.createdAt(), now.armedAt()));
                }
            }
            case SWITCHING -> meters.phase(Phase.ARMED, between(now.armedAt(), now.switchingAt()));
            default -> {
                if (!to.active()) {
                    meters.finished(to.tag());
                    meters.phase(Phase.SWITCHING, between(now.switchingAt(), now.finishedAt()));
                    if (!migration.recovered()) {
                        meters.phase(Phase.TOTAL, between(now.createdAt(), now.finishedAt()));
                    }
                }
            }
        }
    }

    @Override
    public void eventReported(Migration migration, MigrationEventType type, boolean recorded) {
        if (!recorded) {
            meters.eventNotRecorded();
        }
    }

    @Override
    public void settled(Migration migration) {
        MigrationReport report = migration.snapshot().report();
        if (report != null) {
            meters.framesSaved(report.framesSaved());
            report.dropped().forEach(meters::framesDropped);
        }
    }

    private static Duration between(@Nullable Instant from, @Nullable Instant to) {
        return from == null || to == null ? Duration.ofNanos(-1) : Duration.between(from, to);
    }
}
