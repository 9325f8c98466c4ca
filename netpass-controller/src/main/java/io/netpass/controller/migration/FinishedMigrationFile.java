package io.netpass.controller.migration;

import java.util.Objects;
import java.util.stream.Stream;

import org.jspecify.annotations.Nullable;

/**
 * A finished migration as its file in the state directory's {@code finished/} holds it: exactly what the API showed
 * once its agents were disarmed, report included.
 *
 * @param format the file's format; a controller skips files of a format newer than {@link #FORMAT}
 * @param migration the migration
 */
record FinishedMigrationFile(int format, @Nullable MigrationSnapshot migration) {

    /** The format this controller writes and reads. */
    static final int FORMAT = 1;

    static FinishedMigrationFile of(MigrationSnapshot migration) {
        return new FinishedMigrationFile(FORMAT, migration);
    }

    /** Why this file cannot be served as a finished migration named {@code id}; null if it can. */
    @Nullable String defect(String id) {
        if (format != FORMAT) {
            return "format " + format + ", this controller reads " + FORMAT;
        }
        MigrationSnapshot kept = migration;
        // Parsed JSON may lack anything; the API and the listing's order rely on these.
        if (kept == null || Stream.of(kept.id(), kept.vm(), kept.state(), kept.sourceAgent(), kept.destinationAgent(),
                kept.nics(), kept.createdAt(), kept.updatedAt(), kept.events()).anyMatch(Objects::isNull)
                || kept.nics().stream().anyMatch(Objects::isNull)
                || kept.events().stream().anyMatch(Objects::isNull)) {
            return "a field is missing";
        }
        if (!kept.id().equals(id)) {
            return "it holds migration " + kept.id();
        }
        if (kept.state().active() || !kept.settled()) {
            return "the migration is " + kept.state() + (kept.settled() ? "" : ", not settled");
        }
        return null;
    }
}
