package io.netpass.controller.metrics;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import io.netpass.controller.agents.AgentOperation;

/**
 * The controller's meters, all of them. Names are {@code netpass.controller.*} (Prometheus:
 * {@code netpass_controller_*}); docs/metrics.md lists them under "Controller".
 */
public final class ControllerMeters {

    private static final String PREFIX = "netpass.controller.";

    /** Outcomes: the finished states, lower case. */
    public static final Set<String> OUTCOMES = Set.of("completed", "degraded", "failed", "cancelled", "expired");

    /** Phases of a migration timed by {@code netpass.controller.migration.phase}. */
    public enum Phase {
        /** PENDING until ARMED: both agents armed. */
        ARMING("arming"),
        /** ARMED until SWITCHING: waiting for the switchover. */
        ARMED("armed"),
        /** SWITCHING until finished: kept frames forwarded and injected. */
        SWITCHING("switching"),
        /** Created until finished. */
        TOTAL("total");

        private final String tag;

        Phase(String tag) {
            this.tag = tag;
        }
    }

    /** Drop reasons the agents report, plus injection failures; anything else is counted as {@code other}. */
    private static final Set<String> DROP_REASONS = Set.of("buffer-full", "uncounted", "capture-ring-full",
            "tap-overflow-while-running", "injection-failed", "other");

    private final MeterRegistry registry;
    private final Map<String, Counter> outcomes = new ConcurrentHashMap<>();
    private final Map<Phase, Timer> phases = new EnumMap<>(Phase.class);
    private final Counter framesSaved;
    private final Map<String, Counter> framesDropped = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> active = new ConcurrentHashMap<>();
    private final Map<String, Timer> agentCalls = new ConcurrentHashMap<>();
    private final Counter eventsNotRecorded;
    private final Map<StateFileOutcome, Counter> stateFiles = new EnumMap<>(StateFileOutcome.class);

    /** What happened to a file in the state directory, counted by {@code netpass.controller.state.files}. */
    public enum StateFileOutcome {
        /** A finished migration's file deleted: {@code retain-finished} newer ones are kept. */
        EVICTED("evicted"),
        /** A migration's file could not be written (or replaced); its previous file, if any, stays. */
        WRITE_FAILED("write-failed"),
        /** A file skipped at start: unreadable, or of a format newer than this controller reads. */
        SKIPPED("skipped");

        private final String tag;

        StateFileOutcome(String tag) {
            this.tag = tag;
        }
    }

    public ControllerMeters(MeterRegistry registry) {
        this.registry = registry;
        for (String outcome : OUTCOMES) {
            outcomes.put(outcome, Counter.builder(PREFIX + "migrations")
                    .description("Migrations finished, by outcome.")
                    .tag("outcome", outcome).register(registry));
        }
        for (Phase phase : Phase.values()) {
            phases.put(phase, Timer.builder(PREFIX + "migration.phase")
                    .description("How long migrations spent in each phase.")
                    .tag("phase", phase.tag)
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofHours(1))
                    .register(registry));
        }
        framesSaved = Counter.builder(PREFIX + "frames.saved")
                .description("Frames that would have been lost without netpass: every frame the source agents forwarded.")
                .register(registry);
        for (String reason : DROP_REASONS) {
            framesDropped.put(reason, Counter.builder(PREFIX + "frames.dropped")
                    .description("Unread frames netpass could not save, by reason, as the agents reported them.")
                    .tag("reason", reason).register(registry));
        }
        eventsNotRecorded = Counter.builder(PREFIX + "events.unrecorded")
                .description("Orchestrator events applied but not recorded: their migration held the most it "
                        + "records.")
                .register(registry);
        for (StateFileOutcome outcome : StateFileOutcome.values()) {
            stateFiles.put(outcome, Counter.builder(PREFIX + "state.files")
                    .description("Files in the state directory evicted (finished migrations beyond "
                            + "retain-finished), not written, or skipped at start.")
                    .tag("outcome", outcome.tag).register(registry));
        }
        for (String state : Set.of("pending", "armed", "switching")) {
            AtomicInteger count = new AtomicInteger();
            active.put(state, count);
            Gauge.builder(PREFIX + "migrations.active", count, AtomicInteger::get)
                    .description("Migrations in an active state now.")
                    .tag("state", state).register(registry);
        }
    }

    /** A migration entered or left an active state (lower-case state names; finished states are ignored). */
    public void stateChanged(String from, String to) {
        AtomicInteger left = active.get(from);
        if (left != null) {
            left.decrementAndGet();
        }
        AtomicInteger entered = active.get(to);
        if (entered != null) {
            entered.incrementAndGet();
        }
    }

    public void finished(String outcome) {
        Counter counter = outcomes.get(outcome);
        if (counter != null) {
            counter.increment();
        }
    }

    public void phase(Phase phase, Duration duration) {
        if (!duration.isNegative()) {
            phases.get(phase).record(duration);
        }
    }

    public void framesSaved(long frames) {
        if (frames > 0) {
            framesSaved.increment(frames);
        }
    }

    public void framesDropped(String reason, long frames) {
        if (frames > 0) {
            framesDropped.getOrDefault(reason, framesDropped.get("other")).increment(frames);
        }
    }

    public void eventNotRecorded() {
        eventsNotRecorded.increment();
    }

    public void stateFile(StateFileOutcome outcome) {
        stateFiles.get(outcome).increment();
    }

    /** One call to an agent ({@code outcome}: success, error, unreachable). */
    public void agentCall(AgentOperation operation, String outcome, long nanos) {
        agentCalls.computeIfAbsent(operation.tag() + ' ' + outcome, key -> Timer.builder(PREFIX + "agent.calls")
                        .description("Calls to agents, by operation and outcome.")
                        .tag("operation", operation.tag())
                        .tag("outcome", outcome)
                        .register(registry))
                .record(nanos, TimeUnit.NANOSECONDS);
    }

    /** What the KubeVirt integration did with a VirtualMachineInstanceMigration of an opted-in VMI. */
    public enum KubevirtOutcome {
        /** A netpass migration was created for it. */
        CREATED("created"),
        /** No agent on its source or target node by the time it ran: the migration went on without netpass. */
        NO_AGENT("no-agent"),
        /** netpass refused it (the VM in another active migration, an unknown agent). */
        REFUSED("refused");

        private final String tag;

        KubevirtOutcome(String tag) {
            this.tag = tag;
        }
    }

    /** One KubeVirt migration taken up or left alone. */
    public void kubevirtMigration(KubevirtOutcome outcome) {
        Counter.builder(PREFIX + "kubevirt.migrations")
                .description("VirtualMachineInstanceMigrations of opted-in VMIs, by what netpass did with them.")
                .tag("outcome", outcome.tag)
                .register(registry)
                .increment();
    }

    /** 1 while this replica leads and watches KubeVirt objects, read from {@code leading}. */
    public void kubevirtLeader(BooleanSupplier leading) {
        Gauge.builder(PREFIX + "kubevirt.leader", () -> leading.getAsBoolean() ? 1 : 0)
                .description("1 while this replica holds the Lease and drives KubeVirt migrations, else 0.")
                .register(registry);
    }
}
