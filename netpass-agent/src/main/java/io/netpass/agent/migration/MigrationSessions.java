package io.netpass.agent.migration;

import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.Map;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.agent.capture.ArmedTaps;
import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.capture.CaptureSession;
import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.DropReason;
import io.netpass.agent.capture.MacAddress;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.stream.FinalCountDatagrams;
import io.netpass.agent.stream.PeerClient;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The migration sessions of this agent, at most one per migration and role. Arming is idempotent: the same
 * request again returns the existing session; a different one for the same migration and role is a conflict.
 */
public final class MigrationSessions implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MigrationSessions.class);

    private record Key(String migrationId, MigrationRole role) {
    }

    /** What a session was armed with, to tell a repeated request from a conflicting one. */
    private record Arming(TapLocation tap, List<String> vmMacs, @Nullable URI peer) {
    }

    private final ArmedTaps taps;
    private final CaptureProperties captureProperties;
    private final ForwardingProperties forwarding;
    private final PeerClient peers;
    private final FinalCountDatagrams datagrams;
    private final Scheduler forwardingScheduler = Schedulers.newBoundedElastic(64, 1024, "forward");
    private final Scheduler injectionScheduler = Schedulers.newBoundedElastic(64, 1024, "inject");
    private final ConcurrentMap<Key, SourceSession> sources = new ConcurrentHashMap<>();
    private final ConcurrentMap<Key, DestinationSession> destinations = new ConcurrentHashMap<>();
    private final ConcurrentMap<Key, Arming> armings = new ConcurrentHashMap<>();
    private final List<SessionListener> listeners = new CopyOnWriteArrayList<>();
    private final RetiredTotals retired = new RetiredTotals();
    private final Map<SourceSession.ReleaseTrigger, AtomicLong> releasesByTrigger =
            new EnumMap<>(SourceSession.ReleaseTrigger.class);

    /** Hears when sessions come and go and when a destination finishes injecting. */
    public interface SessionListener {
        /** The set of sessions changed. */
        default void sessionsChanged() {
        }

        /** A destination session finished forwarding, with its release timings known. */
        default void destinationCompleted(DestinationSession session) {
        }
    }

    /** Frame counts summed over every session, including the ones already disarmed. */
    public record Totals(long capturedFrames, long capturedBytes, long readFrames, long keptFrames, long keptBytes,
            long bufferBytes, long forwardedFrames, long forwardedBytes, long injectedFrames, long injectedBytes,
            long injectionFailures, long skippedAlreadyDelivered, long stagedFrames, long withdrawnFrames,
            long readAfterInjection, Map<DropReason, Long> drops) {
    }

    /** Counts of disarmed sessions, so that totals never go down. */
    private static final class RetiredTotals {
        long capturedFrames;
        long capturedBytes;
        long readFrames;
        long forwardedFrames;
        long forwardedBytes;
        long injectedFrames;
        long injectedBytes;
        long injectionFailures;
        long skippedAlreadyDelivered;
        long withdrawnFrames;
        long readAfterInjection;
        final EnumMap<DropReason, Long> drops =
                new EnumMap<>(DropReason.class);
    }

    public MigrationSessions(ArmedTaps taps, CaptureProperties captureProperties, ForwardingProperties forwarding,
            PeerClient peers, FinalCountDatagrams datagrams) {
        this.datagrams = datagrams;
        this.taps = taps;
        this.captureProperties = captureProperties;
        this.forwarding = forwarding;
        this.peers = peers;
        for (SourceSession.ReleaseTrigger trigger : SourceSession.ReleaseTrigger.values()) {
            releasesByTrigger.put(trigger, new AtomicLong());
        }
    }

    /** Source sessions whose release {@code trigger} requested first. */
    public long releases(SourceSession.ReleaseTrigger trigger) {
        return releasesByTrigger.get(trigger).get();
    }

    /** Arms the source side: capture of {@code tap} starts and counts from a quiet moment. Blocking. */
    public synchronized SourceSession armSource(String migrationId, TapLocation tap, List<String> vmMacs) {
        Key key = new Key(migrationId, MigrationRole.SOURCE);
        Arming arming = new Arming(tap, List.copyOf(vmMacs), null);
        SourceSession existing = sources.get(key);
        if (existing != null) {
            requireSame(key, arming);
            return existing;
        }
        CaptureSession capture = taps.arm(tap);
        Set<Long> macs = new HashSet<>();
        vmMacs.forEach(mac -> macs.add(MacAddress.parse(mac)));
        SourceSession session = new SourceSession(migrationId, capture, Set.copyOf(macs), forwarding,
                forwardingScheduler, datagrams, trigger -> releasesByTrigger.get(trigger).incrementAndGet());
        sources.put(key, session);
        armings.put(key, arming);
        expireIfNotReleased(key, arming);
        changed();
        log.info("{}: armed source on {}", migrationId, tap);
        return session;
    }

    /** Arms the destination side: the tap is watched for the VM running. Blocking. */
    public synchronized DestinationSession armDestination(String migrationId, TapLocation tap, List<String> vmMacs,
            URI sourceAgent) {
        Key key = new Key(migrationId, MigrationRole.DESTINATION);
        Arming arming = new Arming(tap, List.copyOf(vmMacs), sourceAgent);
        DestinationSession existing = destinations.get(key);
        if (existing != null) {
            requireSame(key, arming);
            return existing;
        }
        DestinationSession session = new DestinationSession(migrationId, tap, vmMacs, sourceAgent, peers, forwarding,
                captureProperties, injectionScheduler, datagrams,
                completed -> listeners.forEach(listener -> listener.destinationCompleted(completed)));
        destinations.put(key, session);
        armings.put(key, arming);
        expireIfNotReleased(key, arming);
        changed();
        log.info("{}: armed destination on {}, source agent {}", migrationId, tap, sourceAgent);
        return session;
    }

    /**
     * Disarms a side still waiting for its switchover after the armed timeout: a tap armed by a controller that
     * went away must not be captured for ever.
     */
    private void expireIfNotReleased(Key key, Arming arming) {
        Schedulers.parallel().schedule(() -> {
            boolean waiting = key.role() == MigrationRole.SOURCE
                    ? sources.containsKey(key) && sources.get(key).state() == SessionState.ARMED
                    : destinations.containsKey(key) && destinations.get(key).state() == SessionState.ARMED;
            if (waiting && armings.get(key) == arming) {
                log.warn("{}: {} side armed for longer than {} without a switchover; disarming it", key.migrationId(),
                        key.role().pathSegment(), forwarding.armedTimeout());
                try {
                    disarm(key.migrationId(), key.role());
                } catch (SessionNotFoundException e) {
                    // Disarmed meanwhile.
                }
            }
        }, forwarding.armedTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    private void requireSame(Key key, Arming arming) {
        if (!Objects.equals(armings.get(key), arming)) {
            throw new SessionConflictException(key.migrationId(), key.role());
        }
    }

    public SourceSession source(String migrationId) {
        SourceSession session = sources.get(new Key(migrationId, MigrationRole.SOURCE));
        if (session == null) {
            throw new SessionNotFoundException(migrationId, MigrationRole.SOURCE);
        }
        return session;
    }

    public DestinationSession destination(String migrationId) {
        DestinationSession session = destinations.get(new Key(migrationId, MigrationRole.DESTINATION));
        if (session == null) {
            throw new SessionNotFoundException(migrationId, MigrationRole.DESTINATION);
        }
        return session;
    }

    public void addListener(SessionListener listener) {
        listeners.add(listener);
    }

    /** Sums over live and disarmed sessions. */
    public synchronized Totals totals() {
        long capturedFrames = retired.capturedFrames;
        long capturedBytes = retired.capturedBytes;
        long readFrames = retired.readFrames;
        long keptFrames = 0;
        long keptBytes = 0;
        long bufferBytes = 0;
        long forwardedFrames = retired.forwardedFrames;
        long forwardedBytes = retired.forwardedBytes;
        EnumMap<DropReason, Long> drops = new EnumMap<>(retired.drops);
        for (SourceSession source : sources.values()) {
            CaptureStatus status = source.captureStatus();
            capturedFrames += status.capturedFrames();
            capturedBytes += status.capturedBytes();
            readFrames += status.readFrames();
            keptFrames += status.keptFrames();
            keptBytes += status.keptBytes();
            bufferBytes += status.bufferBytes();
            forwardedFrames += source.forwardedFrames();
            forwardedBytes += source.forwardedBytes();
            status.drops().forEach((reason, count) -> drops.merge(reason, count, Long::sum));
        }
        long injectedFrames = retired.injectedFrames;
        long injectedBytes = retired.injectedBytes;
        long injectionFailures = retired.injectionFailures;
        long skipped = retired.skippedAlreadyDelivered;
        long staged = 0;
        long withdrawn = retired.withdrawnFrames;
        long readAfterInjection = retired.readAfterInjection;
        for (DestinationSession destination : destinations.values()) {
            injectedFrames += destination.injectedFrames();
            injectedBytes += destination.injectedBytes();
            injectionFailures += destination.injectionFailures();
            skipped += destination.skippedAlreadyDelivered();
            staged += destination.stagedFrames();
            withdrawn += destination.withdrawnFrames();
            readAfterInjection += destination.readAfterInjection();
        }
        return new Totals(capturedFrames, capturedBytes, readFrames, keptFrames, keptBytes, bufferBytes,
                forwardedFrames, forwardedBytes, injectedFrames, injectedBytes, injectionFailures, skipped, staged,
                withdrawn, readAfterInjection, Map.copyOf(drops));
    }

    private void retire(SourceSession session) {
        CaptureStatus status = session.captureStatus();
        retired.capturedFrames += status.capturedFrames();
        retired.capturedBytes += status.capturedBytes();
        retired.readFrames += status.readFrames();
        retired.forwardedFrames += session.forwardedFrames();
        retired.forwardedBytes += session.forwardedBytes();
        status.drops().forEach((reason, count) -> retired.drops.merge(reason, count, Long::sum));
    }

    private void retire(DestinationSession session) {
        retired.injectedFrames += session.injectedFrames();
        retired.injectedBytes += session.injectedBytes();
        retired.injectionFailures += session.injectionFailures();
        retired.skippedAlreadyDelivered += session.skippedAlreadyDelivered();
        retired.withdrawnFrames += session.withdrawnFrames();
        retired.readAfterInjection += session.readAfterInjection();
    }

    private void changed() {
        listeners.forEach(SessionListener::sessionsChanged);
    }

    public Collection<SourceSession> sources() {
        return List.copyOf(sources.values());
    }

    public Collection<DestinationSession> destinations() {
        return List.copyOf(destinations.values());
    }

    /** Applies an orchestrator's event to whichever sides of the migration this agent holds. */
    public void event(String migrationId, MigrationEventType type) {
        SourceSession source = sources.get(new Key(migrationId, MigrationRole.SOURCE));
        DestinationSession destination = destinations.get(new Key(migrationId, MigrationRole.DESTINATION));
        if (source == null && destination == null) {
            throw new SessionNotFoundException(migrationId, MigrationRole.SOURCE);
        }
        switch (type) {
            case SOURCE_PAUSED, COMPLETED -> { }
            case DESTINATION_RESUMED -> {
                if (destination != null) {
                    destination.destinationResumed();
                }
            }
            case FAILED -> {
                if (source != null) {
                    source.abort("migration failed");
                    // The source VM resumes and reads its tap itself: nothing may be forwarded now.
                    source.capture().close();
                }
                if (destination != null) {
                    destination.abort("migration failed");
                }
            }
        }
    }

    /** Disarms one side: capture or watch stops, kept frames are freed. */
    public synchronized void disarm(String migrationId, MigrationRole role) {
        Key key = new Key(migrationId, role);
        armings.remove(key);
        if (role == MigrationRole.SOURCE) {
            SourceSession session = sources.remove(key);
            if (session == null) {
                throw new SessionNotFoundException(migrationId, role);
            }
            session.close();
            retire(session);
        } else {
            DestinationSession session = destinations.remove(key);
            if (session == null) {
                throw new SessionNotFoundException(migrationId, role);
            }
            session.close();
            retire(session);
        }
        changed();
        log.info("{}: disarmed {}", migrationId, role.pathSegment());
    }

    @Override
    public void close() {
        List<Key> keys = new ArrayList<>(armings.keySet());
        for (Key key : keys) {
            try {
                disarm(key.migrationId(), key.role());
            } catch (RuntimeException e) {
                log.warn("disarming {} failed: {}", key, e.getMessage());
            }
        }
        forwardingScheduler.dispose();
        injectionScheduler.dispose();
    }
}
