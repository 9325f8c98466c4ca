package io.netpass.controller.migration;

import java.net.URI;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ApplicationListener;

/**
 * How far the controller got in taking over after a start: the state directory read, then every known agent's
 * sessions read once and the migrations found there adopted. Until then (or until {@code readiness-timeout}) the
 * controller's readiness stays {@link ReadinessState#REFUSING_TRAFFIC}: Spring Boot announces
 * {@code ACCEPTING_TRAFFIC} once started, and this answers it with {@code REFUSING_TRAFFIC} until recovery is done.
 */
public final class RecoveryProgress implements ApplicationListener<AvailabilityChangeEvent<ReadinessState>> {

    private static final Logger log = LoggerFactory.getLogger(RecoveryProgress.class);

    /** Where recovery is. */
    public enum Phase {
        /** The state directory or the agents are still being read; not ready. */
        RECOVERING,
        /** Every known agent was asked once (those that could not answer are listed); ready. */
        RECOVERED,
        /** {@code readiness-timeout} passed first; ready, the agents not read yet are listed. */
        TIMED_OUT;

        public boolean done() {
            return this != RECOVERING;
        }
    }

    private final ApplicationEventPublisher events;
    /** Agents of the first round that have not answered (yet). */
    private final Set<URI> unread = ConcurrentHashMap.newKeySet();
    private volatile Phase phase = Phase.RECOVERING;
    /** Spring Boot announced the application ready while recovery was still going on. */
    private volatile boolean startedBeforeRecovered;

    public RecoveryProgress(ApplicationEventPublisher events) {
        this.events = events;
    }

    public Phase phase() {
        return phase;
    }

    /** The agents whose sessions the first round could not read (unreachable, or too slow for the timeout). */
    public List<String> agentsNotRead() {
        return unread.stream().map(URI::toString).sorted().toList();
    }

    void reading(Set<URI> agents) {
        unread.addAll(agents);
    }

    void read(URI agent) {
        unread.remove(agent);
    }

    /** The first round ended: every agent answered or failed. */
    void recovered() {
        finish(Phase.RECOVERED);
    }

    void timedOut() {
        finish(Phase.TIMED_OUT);
    }

    private void finish(Phase end) {
        synchronized (this) {
            if (phase.done()) {
                return;
            }
            phase = end;
        }
        if (unread.isEmpty()) {
            log.info("recovery {}: ready", end.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
        } else {
            log.warn("recovery {}: ready, but the sessions of {} could not be read yet; recovery retries them",
                    end.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '), agentsNotRead());
        }
        if (startedBeforeRecovered) {
            AvailabilityChangeEvent.publish(events, this, ReadinessState.ACCEPTING_TRAFFIC);
        }
    }

    @Override
    public void onApplicationEvent(AvailabilityChangeEvent<ReadinessState> event) {
        if (event.getState() != ReadinessState.ACCEPTING_TRAFFIC || event.getSource() == this) {
            return;
        }
        synchronized (this) {
            if (phase.done()) {
                return;
            }
            startedBeforeRecovered = true;
        }
        AvailabilityChangeEvent.publish(events, this, ReadinessState.REFUSING_TRAFFIC);
    }
}
