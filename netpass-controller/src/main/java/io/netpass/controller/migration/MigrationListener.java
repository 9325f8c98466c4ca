package io.netpass.controller.migration;

import org.jspecify.annotations.Nullable;

/**
 * Hears of migrations' state changes and of the orchestrator's events (metrics, the state directory, the event
 * streams).
 */
public interface MigrationListener {

    /**
     * A migration changed state; {@code from} is absent when it was just created or rebuilt. Called after the
     * change, outside the migration's lock.
     */
    void stateChanged(Migration migration, @Nullable MigrationState from, MigrationState to);

    /**
     * The orchestrator reported an event; {@code recorded} is false when the migration already holds
     * {@link Migration#MAX_EVENTS} and this one was applied but not recorded.
     */
    default void eventReported(Migration migration, MigrationEventType type, boolean recorded) {
    }

    /** A finished migration's agents were disarmed (or could not be); its report is as final as it gets. */
    default void settled(Migration migration) {
    }
}
