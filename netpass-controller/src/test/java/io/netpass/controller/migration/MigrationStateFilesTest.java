package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netpass.controller.agents.AgentSession;
import io.netpass.controller.metrics.ControllerMeters;
import tools.jackson.databind.json.JsonMapper;

/** What the state directory keeps of a migration, the orchestrator's events included, and within what bounds. */
class MigrationStateFilesTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final URI SOURCE = URI.create("http://127.0.0.1:7070");
    private static final URI DESTINATION = URI.create("http://127.0.0.1:7071");

    @TempDir
    Path directory;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ControllerMeters meters = new ControllerMeters(registry);

    private MigrationStateFiles files(int retainFinished) throws IOException {
        return new MigrationStateFiles(directory, retainFinished, JSON, meters);
    }

    private double stateFiles(String outcome) {
        return registry.get("netpass.controller.state.files").tag("outcome", outcome).counter().count();
    }

    private static List<String> names(Path directory) throws IOException {
        try (var listing = Files.list(directory)) {
            return listing.map(path -> path.getFileName().toString()).filter(name -> name.endsWith(".json"))
                    .sorted().toList();
        }
    }

    private static NewMigration request(@Nullable String id, @Nullable String idempotencyKey) {
        return new NewMigration(id, idempotencyKey, "vm-1", SOURCE, DESTINATION,
                List.of(new Nic("52:54:00:12:34:56", "tap0", null, "tap1", null)), null);
    }

    private static Migration complete(Migrations migrations, String id) {
        return complete(migrations, request(id, null));
    }

    /** Creates, arms, reports counters for and completes a migration, as the coordinator would. */
    private static Migration complete(Migrations migrations, NewMigration request) {
        Migration migration = migrations.create(request).migration();
        String id = migration.id();
        migrations.moveTo(migration, MigrationState.ARMED, null);
        migrations.record(migration, MigrationEventType.DESTINATION_RESUMED, Instant.parse("2026-01-01T00:00:02Z"));
        migrations.moveTo(migration, MigrationState.SWITCHING, null);
        Instant released = Instant.parse("2026-01-01T00:00:02Z");
        migration.observe(0, new AgentSession(id + ".0", "source", "completed", "tap0", null, released, released,
                null, true, Map.of("forwardedFrames", 42L, "forwardedBytes", 4200L, "keptFrames", 40L,
                        "dropped.buffer-full", 1L), null));
        migration.observe(0, new AgentSession(id + ".0", "destination", "completed", "tap1", null, released,
                released, null, true, Map.of("injectedFrames", 42L),
                Map.of("releaseToFirstInjectionMicros", 350L, "releaseToBurstInjectedMicros", 900L)));
        migrations.moveTo(migration, MigrationState.COMPLETED, null);
        migrations.settled(migration);
        return migration;
    }

    private static Migration migration(String id) {
        return new Migration(id, "key-1", "vm-1", URI.create("http://127.0.0.1:7070"),
                URI.create("http://127.0.0.1:7071"),
                List.of(new Nic("52:54:00:12:34:56", "tap0", "/run/netns/a", "tap1", "/run/netns/b")), null,
                Instant.parse("2026-01-01T00:00:00Z"), false, MigrationState.PENDING);
    }

    @Test
    void aMigrationsEventsAreWrittenWithItAndReadBackInOrder() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = files(10);
        migrations.addListener(files);
        Migration migration = migrations.create(new NewMigration("m-1", null, "vm-1",
                URI.create("http://127.0.0.1:7070"), URI.create("http://127.0.0.1:7071"),
                List.of(new Nic("52:54:00:12:34:56", "tap0", null, "tap1", null)), null)).migration();
        migrations.moveTo(migration, MigrationState.ARMED, null);
        migrations.record(migration, MigrationEventType.SOURCE_PAUSED, Instant.parse("2026-01-01T00:00:01Z"));
        migrations.record(migration, MigrationEventType.DESTINATION_RESUMED, Instant.parse("2026-01-01T00:00:02Z"));
        files.close(); // waits for the pending writes

        List<StoredMigration> stored = files(10).readAll();
        assertThat(stored).hasSize(1);
        MigrationSnapshot rebuilt = stored.getFirst().toMigration().snapshot();
        assertThat(rebuilt.recovered()).isTrue();
        assertThat(rebuilt.events()).containsExactly(
                new RecordedEvent(MigrationEventType.SOURCE_PAUSED, Instant.parse("2026-01-01T00:00:01Z")),
                new RecordedEvent(MigrationEventType.DESTINATION_RESUMED, Instant.parse("2026-01-01T00:00:02Z")));
        assertThat(names(directory)).containsExactly("m-1.json");
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
        List<StoredMigration> stored = files(10).readAll();
        assertThat(stored).hasSize(1);
        assertThat(stored.getFirst().toMigration().snapshot().events()).isEmpty();
    }

    @Test
    void aSettledMigrationIsKeptInFinishedAsTheApiShowedItAndItsUnsettledFileIsDeleted() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = files(10);
        migrations.addListener(files);
        MigrationSnapshot before = complete(migrations, request(null, "key-4")).snapshot();
        String id = Migrations.derivedId("key-4");
        files.close();

        assertThat(names(directory)).isEmpty();
        assertThat(names(directory.resolve("finished"))).containsExactly(id + ".json");
        MigrationStateFiles reopened = files(10);
        assertThat(reopened.readAll()).isEmpty();
        List<MigrationSnapshot> finished = reopened.readFinished();
        assertThat(finished).containsExactly(before);
        assertThat(before.report()).isNotNull();
        assertThat(before.report().framesSaved()).isEqualTo(42);
        assertThat(before.report().releaseToBurstInjectedMicros()).isEqualTo(900);

        Migrations restarted = new Migrations(10);
        restarted.addListener(reopened);
        assertThat(restarted.adopt(Migration.finished(finished.getFirst()))).isTrue();
        assertThat(restarted.get(id).snapshot()).isEqualTo(before);
        // Read-only: the state machine refuses any move.
        assertThat(restarted.moveTo(restarted.get(id), MigrationState.ARMED, null)).isFalse();
        // The same Idempotency-Key still answers the same migration, and another request with it is refused.
        Migrations.Created repeated = restarted.create(request(null, "key-4"));
        assertThat(repeated.created()).isFalse();
        assertThat(repeated.migration().snapshot()).isEqualTo(before);
        assertThatExceptionOfType(MigrationConflictException.class)
                .isThrownBy(() -> restarted.create(request("other", "key-4")));
    }

    @Test
    void atMostRetainFinishedFilesAreKeptTheOldestEvictedAndCounted() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = files(2);
        migrations.addListener(files);
        for (String id : List.of("f-1", "f-2", "f-3")) {
            complete(migrations, id);
        }
        files.close();

        assertThat(names(directory.resolve("finished"))).containsExactly("f-2.json", "f-3.json");
        assertThat(stateFiles("evicted")).isEqualTo(1);

        // A controller started with a smaller bound keeps only the newest at once.
        MigrationStateFiles smaller = files(1);
        assertThat(smaller.readFinished()).extracting(MigrationSnapshot::id).containsExactly("f-3");
        assertThat(names(directory.resolve("finished"))).containsExactly("f-3.json");
        assertThat(stateFiles("evicted")).isEqualTo(2);
    }

    @Test
    void aCorruptOrNewerFileInFinishedIsSkippedAndCountedAndTheOthersAreRead() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = files(10);
        migrations.addListener(files);
        complete(migrations, "g-1");
        files.close();
        Path finished = directory.resolve("finished");
        Files.writeString(finished.resolve("g-2.json"), "{\"format\":1,\"migration\":{\"id\":\"g-2\",");
        Files.writeString(finished.resolve("g-3.json"), Files.readString(finished.resolve("g-1.json"))
                .replace("\"format\":1", "\"format\":2").replace("g-1", "g-3"));
        Files.writeString(finished.resolve("g-4.json"), "[]");
        Files.writeString(finished.resolve("g-5.json"), Files.readString(finished.resolve("g-1.json"))
                .replace("\"createdAt\"", "\"created\"").replace("g-1", "g-5"));
        Files.writeString(finished.resolve("g-6.json"), Files.readString(finished.resolve("g-1.json")));

        assertThat(files(10).readFinished()).extracting(MigrationSnapshot::id).containsExactly("g-1");
        assertThat(stateFiles("skipped")).isEqualTo(5);
    }

    @Test
    void anUnsettledFileLeftBesideItsFinishedOneByACrashIsDeleted() throws Exception {
        Migrations migrations = new Migrations(10);
        MigrationStateFiles files = files(10);
        migrations.addListener(files);
        complete(migrations, "h-1");
        files.close();
        Files.writeString(directory.resolve("h-1.json"), """
                {"id":"h-1","vm":"vm-h-1","sourceAgent":"http://127.0.0.1:7070",
                 "destinationAgent":"http://127.0.0.1:7071",
                 "nics":[{"mac":"52:54:00:12:34:56","sourceTap":"tap0","destinationTap":"tap1"}],
                 "createdAt":"2026-01-01T00:00:00Z","state":"SWITCHING"}
                """);

        MigrationStateFiles reopened = files(10);
        assertThat(reopened.readFinished()).extracting(MigrationSnapshot::id).containsExactly("h-1");
        assertThat(reopened.readAll()).isEmpty();
        assertThat(directory.resolve("h-1.json")).doesNotExist();
    }
}
