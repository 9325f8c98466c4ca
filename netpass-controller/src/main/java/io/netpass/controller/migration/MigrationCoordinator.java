package io.netpass.controller.migration;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.controller.agents.AgentCallException;
import io.netpass.controller.agents.AgentClient;
import io.netpass.controller.agents.AgentDirectory;
import io.netpass.controller.agents.AgentRole;
import io.netpass.controller.agents.AgentSession;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Drives migrations through their states: arms both agents on create, reads their sessions every poll interval,
 * applies the orchestrator's events and the timeouts, and once a migration finished disarms both sides and keeps
 * the report. Nothing here blocks; every agent call ends within the agent client's timeout, and failures move the
 * migration to DEGRADED rather than holding it up.
 */
public final class MigrationCoordinator implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MigrationCoordinator.class);

    /** One side's answer to a read or an arm: its session, or why there is none. */
    private record SideResult(int nic, AgentRole role, URI agent, @Nullable AgentSession session,
            @Nullable AgentCallException error) {
    }

    private final Migrations migrations;
    private final AgentClient agents;
    private final AgentDirectory directory;
    private final CoordinationProperties properties;
    private final boolean knownAgentsOnly;
    private final Disposable poller;

    public MigrationCoordinator(Migrations migrations, AgentClient agents, AgentDirectory directory,
            CoordinationProperties properties, boolean knownAgentsOnly) {
        this.migrations = migrations;
        this.agents = agents;
        this.directory = directory;
        this.properties = properties;
        this.knownAgentsOnly = knownAgentsOnly;
        this.poller = Flux.interval(properties.pollInterval(), Schedulers.parallel())
                .onBackpressureDrop()
                .concatMap(tick -> pollAll(), 1)
                .subscribe();
    }

    /**
     * Creates a migration and starts arming its agents. The returned Mono ends when arming did, or after
     * {@code wait}, whichever comes first; arming goes on regardless.
     */
    public Mono<Migrations.Created> create(NewMigration request, Duration wait) {
        if (knownAgentsOnly) {
            for (URI agent : List.of(request.sourceAgent(), request.destinationAgent())) {
                if (!directory.knows(agent)) {
                    throw new UnknownAgentException(agent);
                }
            }
        }
        Migrations.Created created = migrations.create(request);
        if (!created.created()) {
            return Mono.just(created);
        }
        Mono<Void> arming = arm(created.migration()).cache();
        arming.subscribe();
        return arming.timeout(wait, Mono.empty()).thenReturn(created);
    }

    /**
     * Finds the source of a migration that names only its destination: the one known agent other than the
     * destination's whose host runs the VM. Ends within the agent call timeout.
     *
     * @throws SourceAgentNotFoundException (in the Mono) if no agent or several found it
     */
    public Mono<URI> locateSource(VmLocator vm, URI destinationAgent) {
        AgentClient.Discover request = discoverRequest(vm);
        List<URI> candidates = directory.all().stream().map(AgentDirectory.KnownAgent::baseUrl)
                .filter(agent -> !agent.equals(destinationAgent)).toList();
        return Flux.fromIterable(candidates)
                .flatMap(agent -> agents.discover(agent, request).map(found -> agent)
                        .onErrorResume(AgentCallException.class, e -> Mono.empty()))
                .collectList()
                .map(found -> {
                    if (found.size() != 1) {
                        throw new SourceAgentNotFoundException((found.isEmpty() ? "none" : found.size())
                                + " of the " + candidates.size() + " known agents besides the destination found "
                                + vm + (found.isEmpty() ? "" : ": " + found));
                    }
                    return found.getFirst();
                });
    }

    private static AgentClient.Discover discoverRequest(VmLocator vm) {
        VmLocator.KubevirtVmi vmi = vm.kubevirtVmi();
        return new AgentClient.Discover(vm.libvirtDomain(),
                vmi == null ? null : new AgentClient.KubevirtVmi(vmi.namespace(), vmi.name()));
    }

    private Mono<Void> arm(Migration migration) {
        if (migration.discovered()) {
            return armNics(migration);
        }
        VmLocator vm = Objects.requireNonNull(migration.discover());
        AgentClient.Discover request = discoverRequest(vm);
        List<String> wanted = migration.requestedNics().stream().map(nic -> Objects.requireNonNull(nic.mac()))
                .toList();
        return Mono.zip(agents.discover(migration.sourceAgent(), request),
                        agents.discover(migration.destinationAgent(), request))
                .map(found -> DiscoveredNics.pair(wanted, found.getT1(), found.getT2()))
                .flatMap(nics -> {
                    if (!migration.state().active()) {
                        return Mono.empty(); // cancelled while discovering: nothing to arm
                    }
                    migration.discovered(nics);
                    log.info("{}: discovered {} on {} and {}: {}", migration.id(), vm, migration.sourceAgent(),
                            migration.destinationAgent(), nics);
                    return armNics(migration);
                })
                .onErrorResume(e -> e instanceof AgentCallException || e instanceof NicsDoNotMatchException, e -> {
                    log.warn("{}: netpass steps aside, discovery of {} failed: {}", migration.id(), vm,
                            e.getMessage());
                    return settle(migration, MigrationState.DEGRADED, "discovery failed: " + e.getMessage(), false);
                });
    }

    private Mono<Void> armNics(Migration migration) {
        List<Mono<SideResult>> calls = new ArrayList<>();
        for (int i = 0; i < migration.nics().size(); i++) {
            Nic nic = migration.nics().get(i);
            int index = i;
            List<String> macs = List.of(Objects.requireNonNull(nic.mac(), "a new migration's NICs have MACs"));
            calls.add(side(index, AgentRole.DESTINATION, migration.destinationAgent(),
                    agents.armDestination(migration.destinationAgent(), migration.sessionId(i),
                            new AgentClient.ArmDestination(Objects.requireNonNull(nic.destinationTap()),
                                    nic.destinationNamespace(), macs,
                                    migration.sourceAgent().toString()))));
            calls.add(side(index, AgentRole.SOURCE, migration.sourceAgent(),
                    agents.armSource(migration.sourceAgent(), migration.sessionId(i),
                            new AgentClient.ArmSource(Objects.requireNonNull(nic.sourceTap()),
                                    nic.sourceNamespace(), macs))));
        }
        return Flux.merge(calls).collectList().doOnNext(results -> armed(migration, results)).then();
    }

    private void armed(Migration migration, List<SideResult> results) {
        List<String> failures = new ArrayList<>();
        for (SideResult result : results) {
            if (result.session() != null) {
                migration.observe(result.nic(), result.session());
            } else if (result.error() != null) {
                failures.add(result.error().getMessage());
            }
        }
        if (!failures.isEmpty()) {
            log.warn("{}: netpass steps aside, arming failed: {}", migration.id(), failures);
            settle(migration, MigrationState.DEGRADED, "arming failed: " + String.join("; ", failures), false)
                    .subscribe();
            return;
        }
        if (!migrations.moveTo(migration, MigrationState.ARMED, null)) {
            // Cancelled or failed while arming: the settlement may have disarmed before the arms landed.
            log.info("{}: armed after it finished ({}); disarming", migration.id(), migration.state());
            disarmAll(migration).subscribe();
            return;
        }
        log.info("{}: armed on {} and {}", migration.id(), migration.sourceAgent(), migration.destinationAgent());
        for (MigrationEventType early : List.of(MigrationEventType.SOURCE_PAUSED,
                MigrationEventType.DESTINATION_RESUMED)) {
            if (migration.hasEvent(early)) {
                migrations.moveTo(migration, MigrationState.SWITCHING, null);
                forward(migration, early).subscribe();
            }
        }
    }

    /**
     * Applies an orchestrator's event. The returned Mono ends when the agents were told, or after {@code wait}.
     */
    public Mono<Migration> event(String id, MigrationEventType type, Duration wait) {
        Migration migration = migrations.get(id);
        migration.record(type, Instant.now());
        MigrationState state = migration.state();
        if (!state.active()) {
            return Mono.just(migration);
        }
        Mono<Void> work = switch (type) {
            case FAILED -> settle(migration, MigrationState.FAILED,
                    "the orchestrator reported the migration failed", true);
            case SOURCE_PAUSED, DESTINATION_RESUMED -> {
                if (state == MigrationState.PENDING) {
                    yield Mono.empty(); // applied once armed
                }
                migrations.moveTo(migration, MigrationState.SWITCHING, null);
                yield forward(migration, type);
            }
            case COMPLETED -> state == MigrationState.PENDING ? Mono.empty() : forward(migration, type);
        };
        Mono<Void> running = work.cache();
        running.subscribe();
        return running.timeout(wait, Mono.empty()).thenReturn(migration);
    }

    /**
     * Cancels a migration: CANCELLED at once; the agents are told it failed and disarmed in the background.
     *
     * @throws MigrationFinishedException if it finished otherwise
     */
    public Migration cancel(String id) {
        Migration migration = migrations.get(id);
        MigrationState state = migration.state();
        if (state == MigrationState.CANCELLED) {
            return migration;
        }
        if (!state.active()) {
            throw new MigrationFinishedException(id, state);
        }
        settle(migration, MigrationState.CANCELLED, "cancelled by the orchestrator", true).subscribe();
        if (migration.state() != MigrationState.CANCELLED && !migration.state().active()) {
            throw new MigrationFinishedException(id, migration.state());
        }
        return migration;
    }

    /** Tells the agents of both sides about an event; failures are logged, not fatal. */
    private Mono<Void> forward(Migration migration, MigrationEventType type) {
        if (!migration.discovered()) {
            return Mono.empty(); // no agent holds a session yet
        }
        List<URI> targets = migration.sourceAgent().equals(migration.destinationAgent())
                ? List.of(migration.sourceAgent())
                : List.of(migration.sourceAgent(), migration.destinationAgent());
        return Flux.range(0, migration.nics().size())
                .flatMap(nic -> Flux.fromIterable(targets)
                        .flatMap(agent -> agents.event(agent, migration.sessionId(nic), type.name())
                                .onErrorResume(e -> {
                                    log.warn("{}: {}", migration.id(), e.getMessage());
                                    return Mono.empty();
                                })))
                .then();
    }

    private Mono<Void> pollAll() {
        return Flux.fromIterable(migrations.active())
                .filter(migration -> migration.state() != MigrationState.PENDING)
                .flatMap(this::poll, properties.pollConcurrency())
                .then()
                .onErrorResume(e -> {
                    log.error("polling failed", e);
                    return Mono.empty();
                });
    }

    /** Reads both sides of every NIC and decides what that means for the migration. */
    Mono<Void> poll(Migration migration) {
        if (!migration.busy().compareAndSet(false, true)) {
            return Mono.empty();
        }
        return readAll(migration, false)
                .doOnNext(results -> judge(migration, results))
                .doFinally(signal -> migration.busy().set(false))
                .then();
    }

    private Mono<List<SideResult>> readAll(Migration migration, boolean unfinishedOnly) {
        List<Mono<SideResult>> reads = new ArrayList<>();
        for (int i = 0; i < migration.nics().size(); i++) {
            for (AgentRole role : AgentRole.values()) {
                if (unfinishedOnly && migration.finished(i, role.pathSegment())) {
                    continue;
                }
                URI agent = role == AgentRole.SOURCE ? migration.sourceAgent() : migration.destinationAgent();
                reads.add(side(i, role, agent, agents.session(agent, migration.sessionId(i), role)));
            }
        }
        return Flux.merge(reads).collectList();
    }

    private static Mono<SideResult> side(int nic, AgentRole role, URI agent, Mono<AgentSession> call) {
        return call.map(session -> new SideResult(nic, role, agent, session, null))
                .onErrorResume(AgentCallException.class,
                        e -> Mono.just(new SideResult(nic, role, agent, null, e)));
    }

    private void judge(Migration migration, List<SideResult> results) {
        Instant now = Instant.now();
        List<String> gone = new ArrayList<>();
        String unreachable = null;
        for (SideResult result : results) {
            if (result.session() != null) {
                migration.observe(result.nic(), result.session());
            } else if (result.error() != null && result.error().sessionNotFound()) {
                gone.add(result.role().pathSegment() + " session " + migration.sessionId(result.nic())
                        + " is gone from agent " + result.agent());
            } else if (result.error() != null) {
                unreachable = result.error().getMessage();
            }
        }
        if (!migration.state().active()) {
            return;
        }
        if (unreachable == null) {
            migration.reachable();
        } else {
            Instant since = migration.unreachable(now, unreachable);
            if (since.plus(properties.agentLostAfter()).isBefore(now)) {
                settle(migration, MigrationState.DEGRADED, "agent unreachable since " + since + ": " + unreachable,
                        false).subscribe();
                return;
            }
        }
        if (!gone.isEmpty()) {
            settle(migration, MigrationState.DEGRADED, String.join("; ", gone)
                    + " (agent restarted, or disarmed by someone else)", false).subscribe();
            return;
        }
        if (migration.allFinished()) {
            if (migration.allCompleted()) {
                settle(migration, MigrationState.COMPLETED, null, false).subscribe();
            } else {
                settle(migration, MigrationState.FAILED, "forwarding did not complete: "
                        + String.join("; ", migration.failures()), false).subscribe();
            }
            return;
        }
        if (migration.state() == MigrationState.ARMED && migration.anyReleased()) {
            migrations.moveTo(migration, MigrationState.SWITCHING, null);
        }
        expireIfOverdue(migration, now);
    }

    private void expireIfOverdue(Migration migration, Instant now) {
        MigrationState state = migration.state();
        Instant armedAt = migration.armedAt();
        Instant switchingAt = migration.switchingAt();
        if (state == MigrationState.ARMED && armedAt != null
                && armedAt.plus(properties.armedTimeout()).isBefore(now)) {
            settle(migration, MigrationState.EXPIRED, "armed for longer than " + properties.armedTimeout()
                    + " without a switchover", false).subscribe();
        } else if (state == MigrationState.SWITCHING && switchingAt != null
                && switchingAt.plus(properties.switchingTimeout()).isBefore(now)) {
            settle(migration, MigrationState.EXPIRED, migration.anyReleased()
                    ? "forwarding did not finish within " + properties.switchingTimeout()
                    : "the destination did not resume within " + properties.switchingTimeout(), false).subscribe();
        }
    }

    /**
     * Finishes a migration: moves it to {@code state} now, then (in the returned Mono) tells the agents it failed if
     * asked, reads the sides not yet seen finished for the report, and disarms every side.
     */
    private Mono<Void> settle(Migration migration, MigrationState state, @Nullable String reason,
            boolean tellAgentsFailed) {
        if (!migrations.moveTo(migration, state, reason)) {
            return Mono.empty();
        }
        log.info("{}: {}{}", migration.id(), state, reason == null ? "" : " (" + reason + ")");
        Mono<Void> told = tellAgentsFailed ? forward(migration, MigrationEventType.FAILED) : Mono.empty();
        return told.then(finishSettling(migration)).cache();
    }

    /**
     * Reads the sides not yet seen finished (for the report), disarms every side and marks the migration settled.
     * Also used for a finished migration found in the state directory after a restart.
     */
    Mono<Void> finishSettling(Migration migration) {
        if (!migration.discovered()) {
            // Finished before its NICs were known: no agent was armed.
            return Mono.<Void>empty().doFinally(signal -> migrations.settled(migration));
        }
        return readAll(migration, true)
                .doOnNext(results -> results.stream()
                        .filter(result -> result.session() != null)
                        .forEach(result -> migration.observe(result.nic(), Objects.requireNonNull(result.session()))))
                .then(disarmAll(migration))
                .doFinally(signal -> migrations.settled(migration));
    }

    private Mono<Void> disarmAll(Migration migration) {
        List<Mono<Void>> calls = new ArrayList<>();
        for (int i = 0; i < migration.nics().size(); i++) {
            String session = migration.sessionId(i);
            calls.add(agents.disarm(migration.destinationAgent(), session, AgentRole.DESTINATION));
            calls.add(agents.disarm(migration.sourceAgent(), session, AgentRole.SOURCE));
        }
        return Flux.fromIterable(calls)
                .flatMap(call -> call.onErrorResume(e -> {
                    log.warn("{}: {}; recovery retries it", migration.id(), e.getMessage());
                    return Mono.empty();
                }))
                .then();
    }

    /** Disarms one leftover side of a finished migration (found by recovery). */
    Mono<Void> disarmLeftover(URI agent, String sessionId, AgentRole role) {
        return agents.disarm(agent, sessionId, role).onErrorResume(e -> Mono.empty());
    }

    @Override
    public void close() {
        poller.dispose();
    }
}
