package io.netpass.controller.migration;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.controller.agents.AgentClient;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.agents.AgentRole;
import io.netpass.controller.agents.AgentSession;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Takes over migrations in flight after a restart. The agents are the source of truth: at start and every
 * interval, every known agent's sessions are listed; a migration the controller does not know is rebuilt from its
 * sessions (and from its file in the state directory, if there is one) and the coordinator finishes it. Sessions
 * of migrations that finished are disarmed. An agent registering for the first time (or at a new URL) starts a round
 * at once: after a restart, self-registered agents are known again only once they renew their registration.
 * {@link RecoveryProgress} learns when the first round is done.
 */
public final class MigrationRecovery implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MigrationRecovery.class);

    /** The sessions of one migration found on the agents, by NIC index. */
    private static final class Found {
        final Map<Integer, AgentSession> sources = new TreeMap<>();
        final Map<Integer, AgentSession> destinations = new TreeMap<>();
        @Nullable URI sourceAgent;
        @Nullable URI destinationAgent;

        int nics() {
            int most = -1;
            for (int index : sources.keySet()) {
                most = Math.max(most, index);
            }
            for (int index : destinations.keySet()) {
                most = Math.max(most, index);
            }
            return most + 1;
        }

        boolean allFinished() {
            return sources.values().stream().allMatch(AgentSession::finished)
                    && destinations.values().stream().allMatch(AgentSession::finished);
        }
    }

    private record Located(URI agent, AgentSession session) {
    }

    private final Migrations migrations;
    private final MigrationCoordinator coordinator;
    private final AgentClient agents;
    private final AgentDirectory directory;
    private final RecoveryProperties properties;
    private final @Nullable MigrationStateFiles files;
    private final RecoveryProgress progress;
    private final AtomicBoolean firstRound = new AtomicBoolean(true);
    /** How long a lone finished side waits for its partner's agent to be known again before it is disarmed. */
    private final Duration partnerGrace;
    /** Migrations seen with one finished side only, since when. */
    private final Map<String, Instant> loneSince = new ConcurrentHashMap<>();
    private @Nullable Disposable schedule;
    private @Nullable Disposable readinessTimeout;

    MigrationRecovery(Migrations migrations, MigrationCoordinator coordinator, AgentClient agents,
            AgentDirectory directory, RecoveryProperties properties, @Nullable MigrationStateFiles files,
            RecoveryProgress progress, Duration partnerGrace) {
        this.migrations = migrations;
        this.partnerGrace = partnerGrace;
        this.coordinator = coordinator;
        this.agents = agents;
        this.directory = directory;
        this.properties = properties;
        this.files = files;
        this.progress = progress;
    }

    /**
     * Reads the state directory, then the agents, now, every interval and whenever an agent arrives, off the
     * caller's thread.
     */
    public void start() {
        Mono<Void> fromFiles = Mono.fromRunnable(this::adoptStored).subscribeOn(Schedulers.boundedElastic()).then();
        Flux<Object> rounds = Flux.merge(Flux.interval(Duration.ZERO, properties.interval(), Schedulers.parallel()),
                directory.arrivals());
        schedule = fromFiles.thenMany(rounds)
                // A round asked for while one runs is done once that one ends.
                .onBackpressureLatest()
                // The first round is marked done inside it: a doFinally would run after concatMap began the next.
                .concatMap(tick -> recoverOnce().onErrorResume(e -> {
                    log.error("recovery round failed", e);
                    return Mono.empty();
                }).then(Mono.fromRunnable(() -> {
                    if (firstRound.compareAndSet(true, false)) {
                        progress.recovered();
                    }
                })), 1)
                .subscribe();
        readinessTimeout = Mono.delay(properties.readinessTimeout()).subscribe(tick -> progress.timedOut());
    }

    private void adoptStored() {
        if (files == null) {
            return;
        }
        // Finished ones first: recovery then knows their leftover sessions as finished, and a crash between
        // keeping a migration as finished and deleting its unsettled file leaves the finished one to win.
        List<MigrationSnapshot> finished = files.readFinished();
        long adopted = finished.stream().filter(kept -> migrations.adopt(Migration.finished(kept))).count();
        if (adopted > 0) {
            log.info("{} finished migration(s) read back from the state directory", adopted);
        }
        for (StoredMigration stored : files.readAll()) {
            Migration migration = stored.toMigration();
            if (migrations.adopt(migration)) {
                log.info("{}: rebuilt from the state directory as {}", migration.id(), migration.state());
                if (!migration.state().active()) {
                    coordinator.finishSettling(migration).subscribe();
                }
            }
        }
    }

    /** One round: list every known agent's sessions, adopt unknown migrations, disarm leftovers. */
    public Mono<Void> recoverOnce() {
        Set<URI> known = new LinkedHashSet<>();
        directory.all().forEach(agent -> known.add(agent.baseUrl()));
        for (Migration migration : migrations.active()) {
            known.add(migration.sourceAgent());
            known.add(migration.destinationAgent());
        }
        if (firstRound.get()) {
            progress.reading(known);
        }
        return Flux.fromIterable(known)
                .flatMap(agent -> agents.sessions(agent)
                        .doOnNext(sessions -> progress.read(agent))
                        .flatMapIterable(sessions -> sessions.stream().map(session -> new Located(agent, session))
                                .toList())
                        .onErrorResume(e -> {
                            log.debug("recovery: {}", e.getMessage());
                            return Flux.empty();
                        }))
                .collectList()
                .flatMap(located -> {
                    Map<String, Found> found = group(located);
                    loneSince.keySet().retainAll(found.keySet());
                    return Flux.fromIterable(found.entrySet())
                            .flatMap(entry -> reconcile(entry.getKey(), entry.getValue()))
                            .then();
                });
    }

    private static Map<String, Found> group(List<Located> located) {
        Map<String, Found> byMigration = new TreeMap<>();
        for (Located each : located) {
            String sessionId = each.session().migrationId();
            int dot = sessionId.lastIndexOf('.');
            if (dot <= 0) {
                continue; // not armed by a controller
            }
            int nic;
            try {
                nic = Integer.parseInt(sessionId.substring(dot + 1));
            } catch (NumberFormatException e) {
                continue;
            }
            Found found = byMigration.computeIfAbsent(sessionId.substring(0, dot), id -> new Found());
            if ("source".equals(each.session().role())) {
                found.sources.put(nic, each.session());
                found.sourceAgent = each.agent();
            } else {
                found.destinations.put(nic, each.session());
                found.destinationAgent = each.agent();
            }
        }
        return byMigration;
    }

    private Mono<Void> reconcile(String id, Found found) {
        Migration known = migrations.find(id).orElse(null);
        if (known != null) {
            // Active: the coordinator is on it. Finished: whatever is still armed is a leftover.
            return known.state().active() ? Mono.empty() : disarm(id, found);
        }
        if (found.sourceAgent == null || found.destinationAgent == null) {
            // Agents do not say who their partner is. A lone finished side has nothing left to coordinate, unless
            // its partner is on an agent that has not registered again since a restart: that one would rebuild the
            // migration with this side's final counters. Every live agent has renewed within agent-stale-after.
            if (!found.allFinished()) {
                return Mono.empty();
            }
            Instant now = Instant.now();
            Instant since = loneSince.computeIfAbsent(id, key -> now);
            if (since.plus(partnerGrace).isAfter(now)) {
                return Mono.empty();
            }
            loneSince.remove(id);
            return disarm(id, found);
        }
        loneSince.remove(id);
        Migration migration = rebuild(id, found);
        if (migrations.adopt(migration)) {
            log.info("{}: rebuilt from agents {} and {} as {}", id, found.sourceAgent, found.destinationAgent,
                    migration.state());
            return coordinator.poll(migration);
        }
        return Mono.empty();
    }

    private static Migration rebuild(String id, Found found) {
        int count = found.nics();
        List<Nic> nics = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            AgentSession source = found.sources.get(i);
            AgentSession destination = found.destinations.get(i);
            nics.add(new Nic(null, source == null ? "unknown" : source.tap(),
                    source == null ? null : source.namespace(),
                    destination == null ? "unknown" : destination.tap(),
                    destination == null ? null : destination.namespace()));
        }
        List<AgentSession> all = new ArrayList<>(found.sources.values());
        all.addAll(found.destinations.values());
        Instant armedAt = all.stream().map(AgentSession::armedAt).filter(Objects::nonNull)
                .min(Comparator.naturalOrder()).orElse(Instant.now());
        boolean released = all.stream().anyMatch(AgentSession::released);
        Instant switchingAt = released ? all.stream().map(AgentSession::releasedAt).filter(Objects::nonNull)
                .min(Comparator.naturalOrder()).orElse(Instant.now()) : null;
        Migration migration = new Migration(id, null, Migration.UNKNOWN_VM,
                Objects.requireNonNull(found.sourceAgent), Objects.requireNonNull(found.destinationAgent), nics,
                null, armedAt, true, released ? MigrationState.SWITCHING : MigrationState.ARMED);
        migration.restoreTimes(armedAt, switchingAt);
        found.sources.forEach(migration::observe);
        found.destinations.forEach(migration::observe);
        return migration;
    }

    private Mono<Void> disarm(String id, Found found) {
        List<Mono<Void>> calls = new ArrayList<>();
        if (found.sourceAgent != null) {
            for (int nic : found.sources.keySet()) {
                calls.add(coordinator.disarmLeftover(found.sourceAgent, id + "." + nic, AgentRole.SOURCE));
            }
        }
        if (found.destinationAgent != null) {
            for (int nic : found.destinations.keySet()) {
                calls.add(coordinator.disarmLeftover(found.destinationAgent, id + "." + nic, AgentRole.DESTINATION));
            }
        }
        if (!calls.isEmpty()) {
            log.info("{}: disarming {} leftover session(s)", id, calls.size());
        }
        return Flux.merge(calls).then();
    }

    @Override
    public void close() {
        if (schedule != null) {
            schedule.dispose();
        }
        if (readinessTimeout != null) {
            readinessTimeout.dispose();
        }
    }
}
