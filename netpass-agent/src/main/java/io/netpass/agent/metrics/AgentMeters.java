package io.netpass.agent.metrics;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;

import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.DropReason;
import io.netpass.agent.migration.DestinationSession;
import io.netpass.agent.migration.MigrationSessions;
import io.netpass.agent.migration.SourceSession;
import io.netpass.agent.registration.ControllerRegistration;

/**
 * Every meter of the agent. Totals carry no migration tag (bounded cardinality); the per-session gauges carry
 * {@code migration}, {@code tap} and {@code role} and exist only while the session is armed.
 */
public final class AgentMeters implements MeterBinder, MigrationSessions.SessionListener {

    private static final String PREFIX = "netpass.agent.";

    private final MigrationSessions sessions;
    private MultiGauge sessionKeptFrames;
    private MultiGauge sessionBufferBytes;
    private MultiGauge sessionForwardedFrames;
    private Timer releaseToFirstInjection;
    private Timer releaseToBurstInjected;

    public AgentMeters(MigrationSessions sessions) {
        this.sessions = sessions;
        sessions.addListener(this);
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        total(registry, "frames.captured", "Frames handed to armed source taps.", MigrationSessions.Totals::capturedFrames);
        total(registry, "bytes.captured", "Bytes of frames handed to armed source taps.", MigrationSessions.Totals::capturedBytes);
        total(registry, "frames.read", "Captured frames the source VM read itself.", MigrationSessions.Totals::readFrames);
        total(registry, "frames.forwarded", "Kept frames sent to destination agents.", MigrationSessions.Totals::forwardedFrames);
        total(registry, "bytes.forwarded", "Bytes of kept frames sent to destination agents.", MigrationSessions.Totals::forwardedBytes);
        total(registry, "frames.injected", "Forwarded frames injected into destination taps.", MigrationSessions.Totals::injectedFrames);
        total(registry, "bytes.injected", "Bytes of forwarded frames injected into destination taps.", MigrationSessions.Totals::injectedBytes);
        total(registry, "frames.injection.failed", "Forwarded frames the destination kernel refused.", MigrationSessions.Totals::injectionFailures);
        total(registry, "frames.skipped.duplicate", "Forwarded broadcast/multicast frames the destination had already received directly.",
                MigrationSessions.Totals::skippedAlreadyDelivered);
        total(registry, "frames.withdrawn", "Frames forwarded ahead that the source VM then read, withdrawn at the destination.",
                MigrationSessions.Totals::withdrawnFrames);
        total(registry, "frames.read.after.injection", "Frames injected at the destination that the source then reported its VM had read: delivered twice.",
                MigrationSessions.Totals::readAfterInjection);
        for (DropReason reason : DropReason.values()) {
            FunctionCounter.builder(PREFIX + "frames.dropped", sessions,
                            s -> s.totals().drops().getOrDefault(reason, 0L))
                    .description("Unread frames not kept, by reason.")
                    .tag("reason", reason.tag())
                    .register(registry);
        }
        for (SourceSession.ReleaseTrigger trigger : SourceSession.ReleaseTrigger.values()) {
            FunctionCounter.builder(PREFIX + "source.releases", sessions, s -> s.releases(trigger))
                    .description("Source sessions released, by what told them first that their VM runs elsewhere.")
                    .tag("trigger", trigger.tag())
                    .register(registry);
        }
        gauge(registry, "frames.kept", "Frames kept now on this host.", t -> t.keptFrames());
        gauge(registry, "frames.staged", "Frames destination sessions hold now for VMs not yet running.", t -> t.stagedFrames());
        gauge(registry, "buffer.bytes", "Off-heap buffer bytes in use now.", t -> t.bufferBytes());
        Gauge.builder(PREFIX + "sessions.active", sessions, s -> s.sources().size())
                .description("Armed sessions.").tag("role", "source").register(registry);
        Gauge.builder(PREFIX + "sessions.active", sessions, s -> s.destinations().size())
                .description("Armed sessions.").tag("role", "destination").register(registry);
        Gauge.builder(PREFIX + "streams.active", sessions,
                        s -> s.sources().stream().mapToInt(SourceSession::activeStreams).sum())
                .description("Frame streams being served to destination agents.").register(registry);
        releaseToFirstInjection = latency(registry, "release.first.injection",
                "From the destination VM seen running to the first forwarded frame injected.");
        releaseToBurstInjected = latency(registry, "release.burst.injection",
                "From the destination VM seen running to the last frame held for it then injected.");
        sessionKeptFrames = MultiGauge.builder(PREFIX + "session.kept.frames")
                .description("Frames kept now, per armed source session.").register(registry);
        sessionBufferBytes = MultiGauge.builder(PREFIX + "session.buffer.bytes")
                .description("Buffer bytes in use, per armed source session.").register(registry);
        sessionForwardedFrames = MultiGauge.builder(PREFIX + "session.forwarded.frames")
                .description("Frames forwarded, per armed source session.").register(registry);
        sessionsChanged();
    }

    private void total(MeterRegistry registry, String name, String description,
            ToLongFunction<MigrationSessions.Totals> value) {
        FunctionCounter.builder(PREFIX + name, sessions, s -> value.applyAsLong(s.totals()))
                .description(description).register(registry);
    }

    private void gauge(MeterRegistry registry, String name, String description,
            ToDoubleFunction<MigrationSessions.Totals> value) {
        Gauge.builder(PREFIX + name, sessions, s -> value.applyAsDouble(s.totals()))
                .description(description).register(registry);
    }

    private static Timer latency(MeterRegistry registry, String name, String description) {
        return Timer.builder(PREFIX + name)
                .description(description)
                .serviceLevelObjectives(Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(20),
                        Duration.ofMillis(100))
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(50_000))
                .maximumExpectedValue(Duration.ofSeconds(5))
                .register(registry);
    }

    /**
     * The registration with the controller, when it is on: {@code netpass.agent.registration.registered} (1 while the
     * last attempt succeeded) and {@code netpass.agent.registration.attempts} by {@code outcome}.
     */
    public static void bindRegistration(MeterRegistry registry, ControllerRegistration registration) {
        Gauge.builder(PREFIX + "registration.registered", registration,
                        r -> r.status().state() == ControllerRegistration.State.REGISTERED ? 1 : 0)
                .description("Whether the agent's last registration with the controller succeeded.")
                .register(registry);
        FunctionCounter.builder(PREFIX + "registration.attempts", registration, ControllerRegistration::successes)
                .description("Registrations with the controller, renewals included, by outcome.")
                .tag("outcome", "success").register(registry);
        FunctionCounter.builder(PREFIX + "registration.attempts", registration, ControllerRegistration::failures)
                .description("Registrations with the controller, renewals included, by outcome.")
                .tag("outcome", "failure").register(registry);
    }

    @Override
    public synchronized void sessionsChanged() {
        if (sessionKeptFrames == null) {
            return;
        }
        List<MultiGauge.Row<?>> kept = new ArrayList<>();
        List<MultiGauge.Row<?>> buffer = new ArrayList<>();
        List<MultiGauge.Row<?>> forwarded = new ArrayList<>();
        for (SourceSession source : sessions.sources()) {
            CaptureStatus status = source.captureStatus();
            Tags tags = Tags.of("migration", source.migrationId(), "tap", status.tap().tap(), "role", "source");
            kept.add(MultiGauge.Row.of(tags, source, s -> s.captureStatus().keptFrames()));
            buffer.add(MultiGauge.Row.of(tags, source, s -> s.captureStatus().bufferBytes()));
            forwarded.add(MultiGauge.Row.of(tags, source, SourceSession::forwardedFrames));
        }
        sessionKeptFrames.register(kept, true);
        sessionBufferBytes.register(buffer, true);
        sessionForwardedFrames.register(forwarded, true);
    }

    @Override
    public void destinationCompleted(DestinationSession session) {
        if (releaseToFirstInjection == null) {
            return;
        }
        if (session.releaseToFirstInjectionNanos() >= 0) {
            releaseToFirstInjection.record(Duration.ofNanos(session.releaseToFirstInjectionNanos()));
        }
        if (session.releaseToBurstInjectedNanos() >= 0) {
            releaseToBurstInjected.record(Duration.ofNanos(session.releaseToBurstInjectedNanos()));
        }
    }
}
