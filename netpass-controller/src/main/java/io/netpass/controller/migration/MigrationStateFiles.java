package io.netpass.controller.migration;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

/**
 * Keeps each unsettled migration, with the orchestrator's events, as {@code ID.json} in the state directory (a few
 * KiB: NICs and events are bounded), written to a temporary file and moved
 * into place so a crash never leaves half a file. Writes happen on one thread of their own, never on an event loop;
 * each write takes the migration's state at the time it runs, so the newest state always wins.
 */
final class MigrationStateFiles implements MigrationListener, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MigrationStateFiles.class);
    private static final String SUFFIX = ".json";

    private final Path directory;
    private final JsonMapper json;
    private final Scheduler writer = Schedulers.newSingle("migration-state-files");

    MigrationStateFiles(Path directory, JsonMapper json) throws IOException {
        this.directory = Files.createDirectories(directory);
        this.json = json;
    }

    @Override
    public void stateChanged(Migration migration, @Nullable MigrationState from, MigrationState to) {
        writer.schedule(() -> write(migration));
    }

    @Override
    public void eventReported(Migration migration, MigrationEventType type, boolean recorded) {
        if (recorded) {
            writer.schedule(() -> write(migration));
        }
    }

    @Override
    public void settled(Migration migration) {
        writer.schedule(() -> write(migration));
    }

    private void write(Migration migration) {
        MigrationSnapshot snapshot = migration.snapshot();
        Path file = directory.resolve(snapshot.id() + SUFFIX);
        try {
            if (snapshot.settled()) {
                Files.deleteIfExists(file);
                return;
            }
            Path temporary = directory.resolve("." + snapshot.id() + SUFFIX + ".tmp");
            Files.write(temporary, json.writeValueAsBytes(StoredMigration.of(snapshot)));
            try {
                Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException e) {
            log.warn("{}: cannot write {}: {}", snapshot.id(), file, e.toString());
        }
    }

    /** Every migration in the directory; unreadable files are logged and skipped. Blocking. */
    List<StoredMigration> readAll() {
        List<StoredMigration> stored = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "*" + SUFFIX)) {
            for (Path file : files) {
                try {
                    stored.add(json.readValue(file.toFile(), StoredMigration.class));
                } catch (RuntimeException e) {
                    log.warn("skipping unreadable migration file {}: {}", file, e.getMessage());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", directory, e.getMessage());
        }
        return stored;
    }

    @Override
    public void close() {
        // Pending writes finish first: the last state of every migration should be on disk.
        writer.disposeGracefully().timeout(java.time.Duration.ofSeconds(2), reactor.core.publisher.Mono.empty())
                .onErrorResume(e -> reactor.core.publisher.Mono.empty()).block();
    }
}
