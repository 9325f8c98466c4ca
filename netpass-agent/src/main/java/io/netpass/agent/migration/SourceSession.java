package io.netpass.agent.migration;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DataBufferUtils;

import io.netpass.agent.capture.CaptureSession;
import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.KeptFrame;
import io.netpass.agent.capture.MacAddress;
import io.netpass.agent.stream.FrameStreamEncoder;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The source side of a migration: a capture session on the VM's tap, and the stream that serves its kept frames to
 * the destination agent once the destination VM runs. Frames stay kept until the destination acknowledges them by
 * asking for what comes after, so a broken stream resumes with no loss and no duplicate.
 */
public final class SourceSession {

    private static final Logger log = LoggerFactory.getLogger(SourceSession.class);
    private static final Duration FRAME_WAIT = Duration.ofMillis(1);

    private final String migrationId;
    private final CaptureSession capture;
    /** The VM's own MACs: its broadcasts flood back to the old port until the network re-learns, needing no forwarding. */
    private final Set<Long> vmMacs;
    private final ForwardingProperties properties;
    private final Scheduler forwardingScheduler;
    private final FrameStreamEncoder encoder = new FrameStreamEncoder();
    private final Instant armedAt = Instant.now();
    private final AtomicLong forwardedFrames = new AtomicLong();
    private final AtomicLong forwardedBytes = new AtomicLong();
    private final AtomicInteger activeStreams = new AtomicInteger();
    private final AtomicLong forwardedHeldFrames = new AtomicLong();
    private volatile SessionState state = SessionState.ARMED;
    private volatile @Nullable Instant releasedAt;
    private volatile long releasedNanos;
    private volatile long releaseSequence = -1;
    private volatile @Nullable String failure;

    SourceSession(String migrationId, CaptureSession capture, Set<Long> vmMacs,
            ForwardingProperties properties, Scheduler forwardingScheduler) {
        this.vmMacs = vmMacs;
        this.migrationId = migrationId;
        this.capture = capture;
        this.properties = properties;
        this.forwardingScheduler = forwardingScheduler;
    }

    public String migrationId() {
        return migrationId;
    }

    public SessionState state() {
        return state;
    }

    public Instant armedAt() {
        return armedAt;
    }

    public @Nullable Instant releasedAt() {
        return releasedAt;
    }

    public @Nullable String failure() {
        return failure;
    }

    public CaptureStatus captureStatus() {
        return capture.status();
    }

    public long forwardedFrames() {
        return forwardedFrames.get();
    }

    public long forwardedBytes() {
        return forwardedBytes.get();
    }

    /** Frames forwarded because the VMM held them after reading them (see {@link ForwardingProperties}). */
    public long forwardedHeldFrames() {
        return forwardedHeldFrames.get();
    }

    public int activeStreams() {
        return activeStreams.get();
    }

    /** Sequence of the newest frame kept when the destination first asked; -1 before. */
    public long releaseSequence() {
        return releaseSequence;
    }

    /**
     * The frame stream for the destination: every kept frame numbered after {@code after}, then the frames that
     * still reach this tap, then an END record once none has arrived for the quiet period (or at the deadline).
     * Asking is also the acknowledgement: frames up to {@code after} are let go.
     */
    public Flux<DataBuffer> frames(long after, DataBufferFactory buffers) {
        if (state == SessionState.ABORTED) {
            return Flux.error(new SessionFinishedException(migrationId, MigrationRole.SOURCE, state));
        }
        StreamCursor cursor = new StreamCursor(after, buffers);
        Mono<DataBuffer> header = Mono.fromCallable(() -> {
            release();
            capture.acknowledge(after);
            return encoder.header(buffers);
        });
        Flux<DataBuffer> body = Mono.fromCallable(cursor::next).repeat(() -> !cursor.ended);
        return Flux.concat(header, body)
                .subscribeOn(forwardingScheduler)
                .doOnSubscribe(subscription -> activeStreams.incrementAndGet())
                .doFinally(signal -> activeStreams.decrementAndGet())
                .doOnDiscard(DataBuffer.class, DataBufferUtils::release);
    }

    /**
     * Releases the kept frames to the destination if not done yet: from now on they are forwarded. Blocks until the
     * tap's last reads are matched (at most the reads-accounted timeout).
     *
     * @throws SessionFinishedException if the migration was aborted
     */
    public void releaseNow() throws InterruptedException {
        if (state == SessionState.ABORTED) {
            throw new SessionFinishedException(migrationId, MigrationRole.SOURCE, state);
        }
        release();
    }

    private synchronized void release() throws InterruptedException {
        if (releasedAt != null) {
            return;
        }
        releasedNanos = System.nanoTime();
        releasedAt = Instant.now();
        state = SessionState.FORWARDING;
        // Reads the tap counted just before the pause must be matched first, or a frame the VM has would be sent.
        boolean accounted = capture.awaitReadsAccounted(properties.readsAccountedTimeout());
        long waitedMicros = (System.nanoTime() - releasedNanos) / 1_000;
        if (!accounted) {
            log.warn("{}: tap reads not yet matched after {}; forwarding may repeat frames the VM read",
                    migrationId, properties.readsAccountedTimeout());
        }
        // The newest frame that will be forwarded: the VM's own frames flooded back (the destination VM's RARP, as
        // a rule) are kept but never sent, and a destination waiting for one would never see its burst end.
        long[] newest = {-1};
        capture.forEachKept(frame -> {
            if (!sentByVm(frame)) {
                newest[0] = frame.sequence();
            }
        });
        releaseSequence = newest[0];
        log.info("{}: released {} kept frames to the destination ({} µs matching the tap's last reads)", migrationId,
                capture.status().keptFrames(), waitedMicros);
    }

    /** Ends forwarding for good: the migration failed or was cancelled, and the VM reads its own tap again. */
    void abort(String reason) {
        if (!state.finished()) {
            state = SessionState.ABORTED;
            failure = reason;
        }
    }

    void abortUnlessCompleted(String reason) {
        if (state != SessionState.COMPLETED) {
            abort(reason);
        }
    }

    void completeIfForwarding() {
        if (state == SessionState.FORWARDING) {
            state = SessionState.COMPLETED;
        }
    }

    CaptureSession capture() {
        return capture;
    }

    private boolean sentByVm(KeptFrame frame) {
        return frame.frame().byteSize() >= 12
                && vmMacs.contains(MacAddress.read(frame.frame(), 6));
    }

    /** One stream's position; all calls come from the forwarding scheduler, one at a time. */
    private final class StreamCursor {
        private final DataBufferFactory buffers;
        private long lastSent;
        private long lastArrivalNanos;
        private long sent;
        private boolean ended;
        private boolean heldFrameOffered;

        StreamCursor(long after, DataBufferFactory buffers) {
            this.lastSent = after;
            this.buffers = buffers;
        }

        @Nullable DataBuffer next() throws InterruptedException {
            if (lastArrivalNanos == 0) {
                lastArrivalNanos = releasedNanos;
            }
            if (state == SessionState.ABORTED) {
                ended = true;
                return null;
            }
            if (!capture.awaitKeptAfter(lastSent, FRAME_WAIT)) {
                long now = System.nanoTime();
                boolean quiet = now - lastArrivalNanos >= properties.quietPeriod().toNanos();
                boolean late = now - releasedNanos >= properties.deadline().toNanos();
                if (quiet || late || !capture.capturing()) {
                    ended = true;
                    completeIfForwarding();
                    return encoder.end(sent, buffers);
                }
                return null;
            }
            List<DataBuffer> encoded = new ArrayList<>(properties.batchFrames() + 1);
            if (properties.forwardFrameHeldByVmm() && !heldFrameOffered) {
                heldFrameOffered = true;
                boolean held = capture.readLastRead(frame -> {
                    if (frame.sequence() > lastSent) {
                        encoded.add(encoder.encode(frame, buffers));
                        lastSent = frame.sequence();
                        forwardedBytes.addAndGet(frame.frame().byteSize());
                        forwardedHeldFrames.incrementAndGet();
                        log.info("{}: forwarding frame {}, the last the VM read: its VMM may hold it", migrationId,
                                frame.sequence());
                    }
                });
                if (!held) {
                    log.info("{}: no read frame directly precedes the kept ones", migrationId);
                }
            }
            capture.readKeptAfter(lastSent, properties.batchFrames(), frame -> {
                lastSent = frame.sequence();
                if (sentByVm(frame)) {
                    return;
                }
                encoded.add(encoder.encode(frame, buffers));
                lastArrivalNanos = Math.max(lastArrivalNanos, frame.capturedNanos());
                forwardedBytes.addAndGet(frame.frame().byteSize());
            });
            sent += encoded.size();
            forwardedFrames.addAndGet(encoded.size());
            return encoded.isEmpty() ? null : buffers.join(encoded);
        }
    }
}
