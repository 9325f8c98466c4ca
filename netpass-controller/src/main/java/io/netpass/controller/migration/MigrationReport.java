package io.netpass.controller.migration;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.jspecify.annotations.Nullable;

import io.netpass.controller.agents.AgentSession;

/**
 * What netpass did for a migration, summed over its NICs from the agents' session counters.
 *
 * @param finalCounters whether every side's counters were read after it finished
 * @param exact whether the source's accounting was exact on every NIC
 * @param keptFrames the most frames seen kept on the source at once (unread by the paused VM)
 * @param forwardedFrames frames the source agents forwarded
 * @param forwardedBytes their bytes
 * @param injectedFrames frames the destination agents injected
 * @param injectionFailures frames the destination kernel refused
 * @param framesSaved frames that would have been lost without netpass: those kept at release plus those that reached
 *     the source tap after it, i.e. every forwarded frame but those forwarded ahead and withdrawn once the source VM
 *     read them
 * @param droppedFrames unread frames netpass could not save
 * @param dropped the same by reason
 * @param releaseToFirstInjectionMicros slowest NIC, from the destination VM seen running to the first frame
 *     injected; -1 if unknown
 * @param releaseToBurstInjectedMicros slowest NIC, to the last frame kept at release injected; -1 if unknown
 * @param nics per NIC
 */
public record MigrationReport(
        @JsonProperty("final") boolean finalCounters,
        boolean exact,
        long keptFrames,
        long forwardedFrames,
        long forwardedBytes,
        long injectedFrames,
        long injectionFailures,
        long framesSaved,
        long droppedFrames,
        Map<String, Long> dropped,
        long releaseToFirstInjectionMicros,
        long releaseToBurstInjectedMicros,
        List<NicReport> nics) {

    private static final String DROPPED_PREFIX = "dropped.";

    /**
     * One NIC.
     *
     * @param session the agents' migration id for the NIC
     * @param sourceState the source session's state, {@code unknown} if never read
     * @param destinationState the destination session's state
     * @param failure why a side failed or was aborted
     * @param keptFrames most frames seen kept on the source
     * @param forwardedFrames frames forwarded
     * @param injectedFrames frames injected
     */
    public record NicReport(String session, String sourceState, String destinationState, @Nullable String failure,
            long keptFrames, long forwardedFrames, long injectedFrames) {
    }

    /** What the controller last read of one NIC's two sides. */
    static final class Observation {
        @Nullable AgentSession source;
        @Nullable AgentSession destination;
        long mostKept;

        void observe(AgentSession session) {
            if ("source".equals(session.role())) {
                source = session;
                mostKept = Math.max(mostKept, session.counter("keptFrames"));
            } else {
                destination = session;
            }
        }

        boolean finished() {
            return source != null && source.finished() && destination != null && destination.finished();
        }

        boolean completed() {
            return source != null && "completed".equals(source.state()) && destination != null
                    && "completed".equals(destination.state());
        }

        boolean released() {
            return (source != null && source.released()) || (destination != null && destination.released());
        }

        @Nullable String failure() {
            if (source != null && source.failure() != null) {
                return "source: " + source.failure();
            }
            if (destination != null && destination.failure() != null) {
                return "destination: " + destination.failure();
            }
            return null;
        }
    }

    static MigrationReport of(String migrationId, Observation[] observations) {
        boolean finalCounters = true;
        boolean exact = true;
        long kept = 0;
        long forwarded = 0;
        long forwardedBytes = 0;
        long injected = 0;
        long injectionFailures = 0;
        long withdrawn = 0;
        long firstInjection = -1;
        long burstInjected = -1;
        Map<String, Long> dropped = new TreeMap<>();
        List<NicReport> nics = new java.util.ArrayList<>(observations.length);
        for (int i = 0; i < observations.length; i++) {
            Observation nic = observations[i];
            AgentSession source = nic.source;
            AgentSession destination = nic.destination;
            finalCounters &= nic.finished();
            kept += nic.mostKept;
            if (source != null) {
                exact &= source.exact();
                forwarded += source.counter("forwardedFrames");
                forwardedBytes += source.counter("forwardedBytes");
                if (source.counters() != null) {
                    source.counters().forEach((name, count) -> {
                        if (name.startsWith(DROPPED_PREFIX)) {
                            dropped.merge(name.substring(DROPPED_PREFIX.length()), count, Long::sum);
                        }
                    });
                }
            } else {
                exact = false;
            }
            if (destination != null) {
                injected += destination.counter("injectedFrames");
                injectionFailures += destination.counter("injectionFailures");
                withdrawn += destination.counter("withdrawnFrames");
                firstInjection = Math.max(firstInjection, destination.timing("releaseToFirstInjectionMicros"));
                burstInjected = Math.max(burstInjected, destination.timing("releaseToBurstInjectedMicros"));
            }
            nics.add(new NicReport(migrationId + "." + i, source == null ? "unknown" : source.state(),
                    destination == null ? "unknown" : destination.state(), nic.failure(), nic.mostKept,
                    source == null ? 0 : source.counter("forwardedFrames"),
                    destination == null ? 0 : destination.counter("injectedFrames")));
        }
        if (injectionFailures > 0) {
            dropped.merge("injection-failed", injectionFailures, Long::sum);
        }
        long droppedFrames = dropped.values().stream().mapToLong(Long::longValue).sum();
        return new MigrationReport(finalCounters, exact, kept, forwarded, forwardedBytes, injected, injectionFailures,
                Math.max(0, forwarded - withdrawn), droppedFrames, Map.copyOf(dropped), firstInjection, burstInjected,
                List.copyOf(nics));
    }
}
