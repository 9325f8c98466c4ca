package io.netpass.controller.migration;

import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

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
 * of migrations that finished are disarmed.
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
    private @Nullable Disposable schedule;

    MigrationRecovery(Migrations migrations, MigrationCoordinator coordinator, AgentClient agents,
            AgentDirectory directory, RecoveryProperties properties, @Nullable MigrationStateFiles files) {
        this.migrations = migrations;
        this.coordinator = coordinator;
        this.agents = agents;
        this.directory = directory;
        this.properties = properties;
        this.files = files;
    }

    /** Reads the state directory, then the agents, now and every interval, off the caller's thread. */
    public void start() {
        Mono<Void> fromFiles = Mono.fromRunnable(this::adoptStored).subscribeOn(Schedulers.boundedElastic()).then();
        schedule = fromFiles.thenMany(Flux.interval(java.time.Duration.ZERO, properties.interval(),
                        Schedulers.parallel()))
                .onBackpressureDrop()
                .concatMap(tick -> recoverOnce().onErrorResume(e -> {
                    log.error("recovery round failed", e);
                    return Mono.empty();
                }), 1)
                .subscribe();
    }

    private void adoptStored() {
        if (files == null) {
            return;
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
        return Flux.fromIterable(known)
                .flatMap(agent -> agents.sessions(agent)
                        .flatMapIterable(sessions -> sessions.stream().map(session -> new Located(agent, session))
                                .toList())
                        .onErrorResume(e -> {
                            log.debug("recovery: {}", e.getMessage());
                            return Flux.empty();
                        }))
                .collectList()
                .flatMap(located -> Flux.fromIterable(group(located).entrySet())
                        .flatMap(entry -> reconcile(entry.getKey(), entry.getValue()))
                        .then());
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
            // Agents do not say who their partner is; a lone finished side has nothing left to coordinate.
            return found.allFinished() ? disarm(id, found) : Mono.empty();
        }
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
    }
}
