package io.netpass.agent.api;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

import org.jspecify.annotations.Nullable;

import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.DropReason;
import io.netpass.agent.migration.DestinationSession;
import io.netpass.agent.migration.SourceSession;

/**
 * One side of a migration as the API shows it.
 *
 * @param migrationId the migration
 * @param role {@code source} or {@code destination}
 * @param state {@code armed}, {@code forwarding}, {@code completed}, {@code aborted} or {@code failed}
 * @param tap the tap
 * @param namespace its namespace path, absent for the agent's own
 * @param armedAt when it was armed
 * @param releasedAt source: when the release was requested (a pull, the destination's release request or the moved
 *     VM's frame flooded back); destination: when its VM was seen running
 * @param releaseTrigger source: what requested the release first ({@code pull}, {@code release_request},
 *     {@code release_datagram} or {@code vm_frame_flooded_back}), absent until then and for a destination
 * @param failure why it failed or was aborted
 * @param exact whether the frame accounting is exact (see docs/reconciliation.md)
 * @param counters frame and byte counts
 * @param timings latencies of the release and its hops, in microseconds (openapi/netpass-agent.yaml)
 */
public record SessionView(
        String migrationId,
        String role,
        String state,
        String tap,
        @Nullable String namespace,
        Instant armedAt,
        @Nullable Instant releasedAt,
        @Nullable String releaseTrigger,
        @Nullable String failure,
        boolean exact,
        Map<String, Long> counters,
        Map<String, Long> timings) {

    static SessionView of(SourceSession session) {
        CaptureStatus status = session.captureStatus();
        Map<String, Long> counters = new LinkedHashMap<>();
        counters.put("capturedFrames", status.capturedFrames());
        counters.put("capturedBytes", status.capturedBytes());
        counters.put("readFrames", status.readFrames());
        counters.put("keptFrames", status.keptFrames());
        counters.put("keptBytes", status.keptBytes());
        counters.put("bufferBytes", status.bufferBytes());
        counters.put("keptTapDrops", status.keptTapDrops());
        counters.put("forwardedFrames", session.forwardedFrames());
        counters.put("forwardedBytes", session.forwardedBytes());
        counters.put("forwardedHeldFrames", session.forwardedHeldFrames());
        for (DropReason reason : DropReason.values()) {
            counters.put("dropped." + reason.tag(), status.drops(reason));
        }
        SourceSession.ReleaseTimings release = session.releaseTimings();
        SourceSession.ReleaseTrigger trigger = session.releaseTrigger();
        Map<String, Long> timings = new LinkedHashMap<>();
        timings.put("requestToReleaseStartMicros", micros(release.releaseStarted()));
        timings.put("requestToReadsAccountedMicros", micros(release.readsAccounted()));
        timings.put("requestToFinalCountDatagramMicros", micros(release.finalCountDatagramSent()));
        timings.put("requestToFinalCountStreamedMicros", micros(release.finalCountStreamed()));
        timings.put("requestToFirstChunkMicros", micros(release.firstChunk()));
        return new SessionView(session.migrationId(), "source", session.state().name().toLowerCase(),
                status.tap().tap(), namespace(status.tap().namespace()), session.armedAt(), session.releasedAt(),
                trigger == null ? null : trigger.tag(), session.failure(), status.exactSinceArm(),
                counters, timings);
    }

    static SessionView of(DestinationSession session) {
        Map<String, Long> counters = new LinkedHashMap<>();
        counters.put("injectedFrames", session.injectedFrames());
        counters.put("injectedBytes", session.injectedBytes());
        counters.put("injectionFailures", session.injectionFailures());
        counters.put("skippedAlreadyDelivered", session.skippedAlreadyDelivered());
        counters.put("skippedSentByVm", session.skippedSentByVm());
        counters.put("reconnects", session.reconnects());
        counters.put("lastInjectedSequence", session.lastInjectedSequence());
        counters.put("stagedFrames", session.stagedFrames());
        counters.put("stagedAtRelease", session.stagedAtRelease());
        counters.put("withdrawnFrames", session.withdrawnFrames());
        counters.put("readAfterInjection", session.readAfterInjection());
        counters.put("injectedHeldByVmm", session.injectedHeldByVmm());
        counters.put("releasesWithoutFinalCount", session.releasesWithoutFinalCount());
        counters.put("finalCountByDatagram", session.finalCountByDatagram());
        Map<String, Long> timings = new LinkedHashMap<>();
        timings.put("releaseToFinalCountMicros", micros(session.waitedForFinalCountNanos()));
        timings.put("releaseToFirstInjectionMicros", micros(session.releaseToFirstInjectionNanos()));
        timings.put("releaseToBurstInjectedMicros", micros(session.releaseToBurstInjectedNanos()));
        timings.put("burstRealTimeMicros", micros(session.burstRealTimeNanos()));
        return new SessionView(session.migrationId(), "destination", session.state().name().toLowerCase(),
                session.location().tap(), namespace(session.location().namespace()), session.armedAt(),
                session.vmRunningAt(), null, session.failure(), true, counters, timings);
    }

    private static long micros(long nanos) {
        return nanos < 0 ? -1 : nanos / 1_000;
    }

    private static @Nullable String namespace(java.nio.file.@Nullable Path path) {
        return path == null ? null : path.toString();
    }
}
