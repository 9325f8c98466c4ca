package io.netpass.controller.migration;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

import org.jspecify.annotations.Nullable;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * Every migration the controller knows. Creates are idempotent (by id, or by Idempotency-Key, whose derived id is
 * the same after a restart), a VM is in at most one active migration, and finished migrations are forgotten oldest
 * first beyond the retention count.
 */
public final class Migrations {

    /**
     * The result of a create.
     *
     * @param migration the new migration, or the existing one the request repeats
     * @param created whether it is new
     */
    public record Created(Migration migration, boolean created) {
    }

    /**
     * Which migrations to list.
     *
     * @param state only this state
     * @param vm only this VM
     * @param host only migrations from or to this host: an agent name or the host of an agent URL
     * @param active only active (true) or finished (false) ones
     * @param limit at most this many, newest first
     */
    public record Filter(@Nullable MigrationState state, @Nullable String vm, @Nullable String host,
            @Nullable Boolean active, int limit) {
    }

    private final ConcurrentMap<String, Migration> byId = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, String> idByKey = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, String> activeByVm = new ConcurrentHashMap<>();
    private final ConcurrentLinkedDeque<String> finishedOrder = new ConcurrentLinkedDeque<>();
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private final Sinks.Many<Migration> changes = Sinks.many().multicast().directBestEffort();
    private final int retainFinished;

    public Migrations(int retainFinished) {
        this.retainFinished = retainFinished;
    }

    public void addListener(MigrationListener listener) {
        listeners.add(listener);
    }

    /**
     * Creates a migration, or returns the one this request repeats.
     *
     * @throws MigrationConflictException if the id or key was used for a different request
     * @throws VmAlreadyMigratingException if the VM is in another active migration
     */
    public Created create(NewMigration request) {
        Migration migration;
        synchronized (this) {
            String id = request.id() != null ? request.id()
                    : request.idempotencyKey() != null ? derivedId(request.idempotencyKey())
                    : UUID.randomUUID().toString();
            if (request.idempotencyKey() != null) {
                String keyed = idByKey.get(request.idempotencyKey());
                if (keyed != null && !keyed.equals(id)) {
                    throw new MigrationConflictException("Idempotency-Key was used for migration '" + keyed
                            + "', not '" + id + "'");
                }
            }
            Migration existing = byId.get(id);
            if (existing != null) {
                if (!request.sameAs(existing) && !Migration.UNKNOWN_VM.equals(existing.vm())) {
                    throw new MigrationConflictException("migration '" + id
                            + "' exists with a different VM, agents or NICs");
                }
                return new Created(existing, false);
            }
            String busy = activeByVm.get(request.vm());
            if (busy != null) {
                throw new VmAlreadyMigratingException(request.vm(), busy);
            }
            migration = new Migration(id, request.idempotencyKey(), request.vm(), request.sourceAgent(),
                    request.destinationAgent(), request.nics(), request.discover(), Instant.now(), false,
                    MigrationState.PENDING);
            index(migration);
        }
        notify(migration, null, MigrationState.PENDING);
        return new Created(migration, true);
    }

    /** Takes over a migration rebuilt from the agents or the state directory; false if it is known already. */
    boolean adopt(Migration migration) {
        synchronized (this) {
            if (byId.containsKey(migration.id())) {
                return false;
            }
            index(migration);
            if (!migration.state().active()) {
                finishedOrder.add(migration.id());
                forgetOldFinished();
            }
        }
        notify(migration, null, migration.state());
        return true;
    }

    private void index(Migration migration) {
        byId.put(migration.id(), migration);
        if (migration.idempotencyKey() != null) {
            idByKey.put(migration.idempotencyKey(), migration.id());
        }
        if (migration.state().active() && !Migration.UNKNOWN_VM.equals(migration.vm())) {
            activeByVm.put(migration.vm(), migration.id());
        }
    }

    /** The id a key stands for: the same on every controller, so a retry after a restart still finds its migration. */
    static String derivedId(String idempotencyKey) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(idempotencyKey.getBytes(StandardCharsets.UTF_8));
            return "key-" + HexFormat.of().formatHex(digest, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @throws MigrationNotFoundException if there is none */
    public Migration get(String id) {
        Migration migration = byId.get(id);
        if (migration == null) {
            throw new MigrationNotFoundException(id);
        }
        return migration;
    }

    public Optional<Migration> find(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    public List<Migration> active() {
        return byId.values().stream().filter(migration -> migration.state().active()).toList();
    }

    public List<MigrationSnapshot> list(Filter filter, Predicate<Migration> onHost) {
        return byId.values().stream()
                .filter(migration -> filter.host() == null || onHost.test(migration))
                .map(Migration::snapshot)
                .filter(snapshot -> filter.state() == null || snapshot.state() == filter.state())
                .filter(snapshot -> filter.vm() == null || snapshot.vm().equals(filter.vm()))
                .filter(snapshot -> filter.active() == null || snapshot.state().active() == filter.active())
                .sorted(Comparator.comparing(MigrationSnapshot::createdAt).reversed()
                        .thenComparing(MigrationSnapshot::id))
                .limit(filter.limit())
                .toList();
    }

    /** Moves a migration to {@code next} and tells the listeners; false if the state machine refuses. */
    boolean moveTo(Migration migration, MigrationState next, @Nullable String reason) {
        MigrationState from = migration.state();
        if (!migration.moveTo(next, reason, Instant.now())) {
            return false;
        }
        if (!next.active()) {
            activeByVm.remove(migration.vm(), migration.id());
            finishedOrder.add(migration.id());
            forgetOldFinished();
        }
        notify(migration, from, next);
        return true;
    }

    /** Records an orchestrator's event on {@code migration} and tells the listeners. */
    void record(Migration migration, MigrationEventType type, Instant at) {
        boolean recorded = migration.record(type, at);
        listeners.forEach(listener -> listener.eventReported(migration, type, recorded));
    }

    void settled(Migration migration) {
        migration.settled();
        listeners.forEach(listener -> listener.settled(migration));
        emit(migration);
    }

    /** Every state change and settlement, as it happens; subscribers that fall behind miss changes. */
    public Flux<Migration> changes() {
        return changes.asFlux();
    }

    private void forgetOldFinished() {
        while (finishedOrder.size() > retainFinished) {
            String id = finishedOrder.poll();
            if (id == null) {
                return;
            }
            Migration gone = byId.remove(id);
            if (gone != null && gone.idempotencyKey() != null) {
                idByKey.remove(Objects.requireNonNull(gone.idempotencyKey()), id);
            }
        }
    }

    private void notify(Migration migration, @Nullable MigrationState from, MigrationState to) {
        listeners.forEach(listener -> listener.stateChanged(migration, from, to));
        emit(migration);
    }

    private void emit(Migration migration) {
        synchronized (changes) {
            changes.tryEmitNext(migration);
        }
    }
}
