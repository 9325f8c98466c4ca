package io.netpass.controller.migration;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.SequencedSet;
import java.util.Set;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.controller.metrics.ControllerMeters;
import io.netpass.controller.metrics.ControllerMeters.StateFileOutcome;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

/**
 * Keeps each unsettled migration, with the orchestrator's events, as {@code ID.json} in the state directory (a few
 * KiB: NICs and events are bounded), and once it settled, as it finally was, as {@code finished/ID.json}: at most
 * {@code retainFinished} of those, the oldest deleted first. Every file is written to a temporary file and moved
 * into place so a crash never leaves half a file. Writes happen on one thread of their own, never on an event loop;
 * each write takes the migration's state at the time it runs, so the newest state always wins.
 */
final class MigrationStateFiles implements MigrationListener, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MigrationStateFiles.class);
    private static final String SUFFIX = ".json";

    private final Path directory;
    private final Path finishedDirectory;
    private final int retainFinished;
    private final JsonMapper json;
    private final ControllerMeters meters;
    private final Scheduler writer = Schedulers.newSingle("migration-state-files");
    /** Ids of the files in {@code finished/}, oldest first. */
    private final SequencedSet<String> finished = new LinkedHashSet<>();

    MigrationStateFiles(Path directory, int retainFinished, JsonMapper json, ControllerMeters meters)
            throws IOException {
        this.directory = Files.createDirectories(directory);
        this.finishedDirectory = Files.createDirectories(directory.resolve("finished"));
        this.retainFinished = retainFinished;
        this.json = json;
        this.meters = meters;
    }

    @Override
    public void stateChanged(Migration migration, @Nullable MigrationState from, MigrationState to) {
        if (from == null && migration.isSettled()) {
            return; // read back from finished/: its file holds exactly this
        }
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
                // Kept before the unsettled file goes: a crash in between leaves both, and the finished one wins.
                keepFinished(snapshot);
                Files.deleteIfExists(file);
                return;
            }
            writeAtomically(directory, snapshot.id(), StoredMigration.of(snapshot));
        } catch (IOException | RuntimeException e) {
            meters.stateFile(StateFileOutcome.WRITE_FAILED);
            log.warn("{}: cannot write {}: {}", snapshot.id(), file, e.toString());
        }
    }

    private void keepFinished(MigrationSnapshot snapshot) throws IOException {
        if (retainFinished == 0) {
            return;
        }
        writeAtomically(finishedDirectory, snapshot.id(), FinishedMigrationFile.of(snapshot));
        List<String> evicted = new ArrayList<>();
        synchronized (finished) {
            // A later event rewrites the file; the migration stays where it finished in the order.
            finished.add(snapshot.id());
            while (finished.size() > retainFinished) {
                evicted.add(finished.removeFirst());
            }
        }
        evicted.forEach(this::evict);
    }

    private void writeAtomically(Path into, String id, Object content) throws IOException {
        Path file = into.resolve(id + SUFFIX);
        Path temporary = into.resolve("." + id + SUFFIX + ".tmp");
        Files.write(temporary, json.writeValueAsBytes(content));
        try {
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private void evict(String id) {
        Path file = finishedDirectory.resolve(id + SUFFIX);
        try {
            Files.deleteIfExists(file);
            meters.stateFile(StateFileOutcome.EVICTED);
        } catch (IOException e) {
            log.warn("{}: cannot delete {}: {}", id, file, e.toString());
        }
    }

    /**
     * Every unsettled migration in the directory; unreadable files are logged and skipped, and a file of a
     * migration {@link #readFinished} found in {@code finished/} is a leftover of a crash and deleted. Blocking.
     */
    List<StoredMigration> readAll() {
        List<StoredMigration> stored = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "*" + SUFFIX)) {
            for (Path file : files) {
                try {
                    StoredMigration migration = json.readValue(file.toFile(), StoredMigration.class);
                    boolean kept;
                    synchronized (finished) {
                        kept = finished.contains(migration.id());
                    }
                    if (kept) {
                        Files.deleteIfExists(file);
                        continue;
                    }
                    stored.add(migration);
                } catch (IOException | RuntimeException e) {
                    unreadable(file, e.getMessage());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", directory, e.getMessage());
        }
        return stored;
    }

    /**
     * Every finished migration in {@code finished/}, oldest first, at most {@code retainFinished} (older files are
     * deleted); unreadable files and files of a newer format are logged and skipped. Blocking.
     */
    List<MigrationSnapshot> readFinished() {
        List<MigrationSnapshot> kept = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(finishedDirectory, "*" + SUFFIX)) {
            for (Path file : files) {
                try {
                    FinishedMigrationFile stored = json.readValue(file.toFile(), FinishedMigrationFile.class);
                    String name = file.getFileName().toString();
                    String defect = stored.defect(name.substring(0, name.length() - SUFFIX.length()));
                    if (defect != null) {
                        unreadable(file, defect);
                    } else {
                        kept.add(Objects.requireNonNull(stored.migration()));
                    }
                } catch (RuntimeException e) {
                    unreadable(file, e.getMessage());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", finishedDirectory, e.getMessage());
        }
        kept.sort(Comparator.comparing((MigrationSnapshot migration) -> Objects.requireNonNullElse(
                migration.finishedAt(), migration.updatedAt())).thenComparing(MigrationSnapshot::id));
        Set<String> evicted = new HashSet<>();
        synchronized (finished) {
            // Files written since the start are newer than every file read here.
            List<String> newer = List.copyOf(finished);
            finished.clear();
            kept.forEach(migration -> finished.add(migration.id()));
            finished.addAll(newer);
            while (finished.size() > retainFinished) {
                evicted.add(finished.removeFirst());
            }
        }
        evicted.forEach(this::evict);
        return kept.stream().filter(migration -> !evicted.contains(migration.id())).toList();
    }

    private void unreadable(Path file, @Nullable String why) {
        meters.stateFile(StateFileOutcome.SKIPPED);
        log.warn("skipping unreadable migration file {}: {}", file, why);
    }

    @Override
    public void close() {
        // Pending writes finish first: the last state of every migration should be on disk.
        writer.disposeGracefully().timeout(Duration.ofSeconds(2), Mono.empty())
                .onErrorResume(e -> Mono.empty()).block();
    }
}
