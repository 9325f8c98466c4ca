package io.netpass.controller.migration;

import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.agents.AgentSession;

/**
 * One migration the controller coordinates. Identity and request are fixed; state, timestamps, events and what the
 * agents last reported change under this object's lock. The agents name the session of NIC {@code n}
 * {@code ID.n}.
 */
public final class Migration {

    /** Shown for a migration rebuilt from the agents alone: agents do not know the VM. */
    public static final String UNKNOWN_VM = "unknown";
    /**
     * The most orchestrator events one migration records. A switchover needs four; beyond this bound (a client
     * retrying in a loop) events are still applied but no longer recorded, which bounds memory and the state file.
     */
    static final int MAX_EVENTS = 32;

    private final String id;
    private final @Nullable String idempotencyKey;
    private final String vm;
    private final URI sourceAgent;
    private final URI destinationAgent;
    private final List<Nic> requestedNics;
    private final @Nullable VmLocator discover;
    private final Instant createdAt;
    private final boolean recovered;
    /** The requested NICs, replaced once by the discovered ones. */
    private List<Nic> nics;
    private MigrationReport.Observation[] observed;
    private boolean discovered;
    /** Only one poll or settlement at a time per migration. */
    private final AtomicBoolean busy = new AtomicBoolean();

    private MigrationState state;
    private @Nullable String reason;
    private Instant updatedAt;
    private @Nullable Instant armedAt;
    private @Nullable Instant switchingAt;
    private @Nullable Instant finishedAt;
    private @Nullable Instant unreachableSince;
    private @Nullable String unreachableReason;
    private final List<RecordedEvent> events = new ArrayList<>();
    private boolean reported;
    /** The report of a finished migration read back from the state directory: no agent session is left to read. */
    private @Nullable MigrationReport keptReport;
    private boolean settled;
    private long version;

    Migration(String id, @Nullable String idempotencyKey, String vm, URI sourceAgent, URI destinationAgent,
            List<Nic> nics, @Nullable VmLocator discover, Instant createdAt, boolean recovered, MigrationState state) {
        this.id = id;
        this.idempotencyKey = idempotencyKey;
        this.vm = vm;
        this.sourceAgent = sourceAgent;
        this.destinationAgent = destinationAgent;
        this.requestedNics = List.copyOf(nics);
        this.nics = requestedNics;
        this.discover = discover;
        this.discovered = discover == null || (!nics.isEmpty() && nics.stream().allMatch(Nic::hasTaps));
        this.createdAt = createdAt;
        this.recovered = recovered;
        this.state = state;
        this.updatedAt = createdAt;
        this.observed = observations(nics.size());
    }

    /**
     * A finished migration as the state directory kept it, shown exactly as it was: its agents were disarmed before
     * it was written, so nothing about it changes any more (later orchestrator events are still recorded).
     */
    static Migration finished(MigrationSnapshot kept) {
        if (kept.state().active() || !kept.settled()) {
            throw new IllegalArgumentException(kept.id() + ": not a settled migration but " + kept.state());
        }
        Migration migration = new Migration(kept.id(), kept.idempotencyKey(), kept.vm(), kept.sourceAgent(),
                kept.destinationAgent(), kept.nics(), kept.discover(), kept.createdAt(), kept.recovered(),
                kept.state());
        synchronized (migration) {
            migration.reason = kept.reason();
            migration.updatedAt = kept.updatedAt();
            migration.armedAt = kept.armedAt();
            migration.switchingAt = kept.switchingAt();
            migration.finishedAt = kept.finishedAt();
            migration.keptReport = kept.report();
            migration.version = kept.version();
            migration.settled = true;
            migration.restoreEvents(kept.events());
        }
        return migration;
    }

    private static MigrationReport.Observation[] observations(int count) {
        MigrationReport.Observation[] observations = new MigrationReport.Observation[count];
        for (int i = 0; i < count; i++) {
            observations[i] = new MigrationReport.Observation();
        }
        return observations;
    }

    public String id() {
        return id;
    }

    public @Nullable String idempotencyKey() {
        return idempotencyKey;
    }

    public String vm() {
        return vm;
    }

    public URI sourceAgent() {
        return sourceAgent;
    }

    public URI destinationAgent() {
        return destinationAgent;
    }

    /** The NICs: as requested until discovery, then with the taps the agents found. */
    public synchronized List<Nic> nics() {
        return nics;
    }

    /** The NICs as the request listed them (for a discovering migration: the MACs to keep, or none). */
    List<Nic> requestedNics() {
        return requestedNics;
    }

    /** How the agents find the VM's taps, if the request let them. */
    public @Nullable VmLocator discover() {
        return discover;
    }

    /** Whether every NIC has its taps: not so for a discovering migration until the agents answered. */
    synchronized boolean discovered() {
        return discovered;
    }

    /** Takes the NICs the agents discovered, each with both taps; once, before arming. */
    synchronized void discovered(List<Nic> found) {
        if (discovered) {
            throw new IllegalStateException(id + ": NICs already known");
        }
        nics = List.copyOf(found);
        observed = observations(nics.size());
        discovered = true;
        version++;
    }

    public boolean recovered() {
        return recovered;
    }

    public Instant createdAt() {
        return createdAt;
    }

    /** The agents' migration id for NIC {@code nic}. */
    public String sessionId(int nic) {
        return id + "." + nic;
    }

    public synchronized MigrationState state() {
        return state;
    }

    synchronized @Nullable Instant armedAt() {
        return armedAt;
    }

    synchronized @Nullable Instant switchingAt() {
        return switchingAt;
    }

    synchronized @Nullable Instant finishedAt() {
        return finishedAt;
    }

    AtomicBoolean busy() {
        return busy;
    }

    /** Moves to {@code next} if the state machine allows it; false if not (e.g. already finished). */
    synchronized boolean moveTo(MigrationState next, @Nullable String why, Instant now) {
        if (!state.canMoveTo(next)) {
            return false;
        }
        state = next;
        updatedAt = now;
        version++;
        switch (next) {
            case ARMED -> armedAt = armedAt == null ? now : armedAt;
            case SWITCHING -> switchingAt = now;
            default -> {
                if (!next.active()) {
                    finishedAt = now;
                    reason = why;
                }
            }
        }
        return true;
    }

    /** For a migration rebuilt from agents or the state directory: timestamps the agents or the file had. */
    synchronized void restoreTimes(@Nullable Instant armed, @Nullable Instant switching) {
        armedAt = armed;
        switchingAt = switching;
    }

    /** Records an event; false if {@link #MAX_EVENTS} are recorded already. */
    synchronized boolean record(MigrationEventType type, Instant at) {
        if (events.size() >= MAX_EVENTS) {
            return false;
        }
        events.add(new RecordedEvent(type, at));
        return true;
    }

    /** For a migration read back from the state directory: the events it had recorded. */
    synchronized void restoreEvents(List<RecordedEvent> recorded) {
        events.clear();
        events.addAll(recorded.subList(0, Math.min(recorded.size(), MAX_EVENTS)));
    }

    synchronized boolean hasEvent(MigrationEventType type) {
        return events.stream().anyMatch(event -> event.type() == type);
    }

    synchronized void observe(int nic, AgentSession session) {
        observed[nic].observe(session);
        reported = true;
    }

    synchronized boolean allFinished() {
        for (MigrationReport.Observation nic : observed) {
            if (!nic.finished()) {
                return false;
            }
        }
        return true;
    }

    synchronized boolean allCompleted() {
        for (MigrationReport.Observation nic : observed) {
            if (!nic.completed()) {
                return false;
            }
        }
        return true;
    }

    synchronized boolean anyReleased() {
        for (MigrationReport.Observation nic : observed) {
            if (nic.released()) {
                return true;
            }
        }
        return false;
    }

    /** Whether the controller's last read of this side found it finished. */
    synchronized boolean finished(int nic, String role) {
        AgentSession session = "source".equals(role) ? observed[nic].source : observed[nic].destination;
        return session != null && session.finished();
    }

    synchronized List<String> failures() {
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < observed.length; i++) {
            String failure = observed[i].failure();
            if (failure != null) {
                failures.add(sessionId(i) + " " + failure);
            }
        }
        return failures;
    }

    /** Notes that an agent did not answer; returns since when agents have been unreachable. */
    synchronized Instant unreachable(Instant now, String why) {
        if (unreachableSince == null) {
            unreachableSince = now;
        }
        unreachableReason = why;
        return unreachableSince;
    }

    synchronized void reachable() {
        unreachableSince = null;
        unreachableReason = null;
    }

    synchronized @Nullable String unreachableReason() {
        return unreachableReason;
    }

    synchronized void settled() {
        settled = true;
        version++;
    }

    /** Whether it finished and its agents were disarmed (or could not be). */
    synchronized boolean isSettled() {
        return settled;
    }

    public synchronized MigrationSnapshot snapshot() {
        return new MigrationSnapshot(id, idempotencyKey, vm, state, reason, sourceAgent, destinationAgent, nics,
                createdAt, updatedAt, armedAt, switchingAt, finishedAt, recovered, List.copyOf(events),
                reported ? MigrationReport.of(id, observed) : keptReport, version, settled, discover);
    }
}
