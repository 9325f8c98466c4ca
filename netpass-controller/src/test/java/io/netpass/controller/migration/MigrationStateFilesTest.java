package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tools.jackson.databind.json.JsonMapper;

/** What the state directory keeps of a migration, the orchestrator's events included, and within what bounds. */
class MigrationStateFilesTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path directory;

    private static Migration migration(String id) {
        return new Migration(id, "key-1", "vm-1", URI.create("http://127.0.0.1:7070"),
                URI.create("http://127.0.0.1:7071"),
                List.of(new Nic("52:54:00:12:34:56", "tap0", "/run/netns/a", "tap1", "/run/netns/b")), null,
                Instant.parse("2026-01-01T00:00:00Z"), false, MigrationState.PENDING);
    }

    @Test
    void aMigrationsEventsAreWrittenWithItAndReadBackInOrder() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = new MigrationStateFiles(directory, JSON);
        migrations.addListener(files);
        Migration migration = migrations.create(new NewMigration("m-1", null, "vm-1",
                URI.create("http://127.0.0.1:7070"), URI.create("http://127.0.0.1:7071"),
                List.of(new Nic("52:54:00:12:34:56", "tap0", null, "tap1", null)), null)).migration();
        migrations.moveTo(migration, MigrationState.ARMED, null);
        migrations.record(migration, MigrationEventType.SOURCE_PAUSED, Instant.parse("2026-01-01T00:00:01Z"));
        migrations.record(migration, MigrationEventType.DESTINATION_RESUMED, Instant.parse("2026-01-01T00:00:02Z"));
        files.close(); // waits for the pending writes

        List<StoredMigration> stored = new MigrationStateFiles(directory, JSON).readAll();
        assertThat(stored).hasSize(1);
        MigrationSnapshot rebuilt = stored.getFirst().toMigration().snapshot();
        assertThat(rebuilt.recovered()).isTrue();
        assertThat(rebuilt.events()).containsExactly(
                new RecordedEvent(MigrationEventType.SOURCE_PAUSED, Instant.parse("2026-01-01T00:00:01Z")),
                new RecordedEvent(MigrationEventType.DESTINATION_RESUMED, Instant.parse("2026-01-01T00:00:02Z")));
        try (var listing = Files.list(directory)) {
            assertThat(listing.map(path -> path.getFileName().toString())).containsExactly("m-1.json");
        }
    }

    @Test
    void aMigrationRecordsAtMost32EventsAndTellsTheListenersOfTheOnesItDidNot() {
        Migrations migrations = new Migrations(10);
        int[] unrecorded = {0};
        migrations.addListener(new MigrationListener() {
            @Override
            public void stateChanged(Migration migration, @Nullable MigrationState from,
                    MigrationState to) {
            }

            @Override
            public void eventReported(Migration migration, MigrationEventType type, boolean recorded) {
                if (!recorded) {
                    unrecorded[0]++;
                }
            }
        });
        Migration migration = migration("m-2");
        for (int i = 0; i < Migration.MAX_EVENTS + 5; i++) {
            migrations.record(migration, MigrationEventType.COMPLETED, Instant.now());
        }
        assertThat(migration.snapshot().events()).hasSize(Migration.MAX_EVENTS);
        assertThat(unrecorded[0]).isEqualTo(5);
    }

    @Test
    void aFileWrittenBeforeEventsWereKeptIsReadWithNone() throws Exception {
        Files.writeString(directory.resolve("m-3.json"), """
                {"id":"m-3","vm":"vm-3","sourceAgent":"http://127.0.0.1:7070",
                 "destinationAgent":"http://127.0.0.1:7071",
                 "nics":[{"mac":"52:54:00:12:34:56","sourceTap":"tap0","destinationTap":"tap1"}],
                 "createdAt":"2026-01-01T00:00:00Z","state":"ARMED"}
                """);
        List<StoredMigration> stored = new MigrationStateFiles(directory, JSON).readAll();
        assertThat(stored).hasSize(1);
        assertThat(stored.getFirst().toMigration().snapshot().events()).isEmpty();
    }
}
