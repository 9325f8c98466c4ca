package io.netpass.agent.migration;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
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
import io.netpass.agent.stream.SourceRead;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The source side of a migration: a capture session on the VM's tap, and the stream that serves its kept frames to
 * the destination agent: ahead of the switchover, as the VM leaves them unread (with READ records as it reads on),
 * then at once after the release. Frames stay kept until, after the release, the destination acknowledges them by
 * asking for what comes after, so a broken stream resumes with no loss and no duplicate.
 */
public final class SourceSession {

    private static final Logger log = LoggerFactory.getLogger(SourceSession.class);
    private static final Duration FRAME_WAIT = Duration.ofMillis(1);
    /** How long a held stream waits for something to send before its VM stopped: the capture wakes it sooner. */
    private static final Duration IDLE_WAIT = Duration.ofMillis(50);
    /** Frames in a stream's first chunk: small, so that the destination injects its first frames sooner. */
    private static final int FIRST_CHUNK_FRAMES = 16;

    /** What told this source to release its kept frames to the destination. */
    public enum ReleaseTrigger {
        /** The destination asked for the frames without holding a stream open. */
        PULL,
        /** The destination signalled that its VM runs. */
        RELEASE_REQUEST,
        /** The moved VM's own frame (its announcement) was flooded back to this tap: it runs elsewhere. */
        VM_FRAME_FLOODED_BACK
    }

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
    private final AtomicBoolean releaseRequested = new AtomicBoolean();
    private volatile @Nullable ReleaseTrigger releaseTrigger;
    /** Release timestamps ({@link System#nanoTime()}, 0 until reached), for {@link #releaseTimings()}. */
    private volatile long releaseRequestedNanos;
    private volatile long readsAccountedNanos;
    private volatile long firstChunkNanos;
    /** Whether the reads the tap counted at the release were all matched: then the count is final. */
    private volatile boolean readsFinal;
    private volatile @Nullable String failure;

    SourceSession(String migrationId, CaptureSession capture, Set<Long> vmMacs,
            ForwardingProperties properties, Scheduler forwardingScheduler) {
        this.vmMacs = vmMacs;
        this.migrationId = migrationId;
        this.capture = capture;
        this.properties = properties;
        this.forwardingScheduler = forwardingScheduler;
        capture.whenFrameFrom(vmMacs, () -> requestRelease(ReleaseTrigger.VM_FRAME_FLOODED_BACK));
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

    /**
     * Notes that the VM runs elsewhere: the start of the release timings, after which the streams send the final
     * count of the VM's reads and every kept frame at once. Only the first call counts; it does not block (the
     * capture thread calls it).
     *
     * @throws SessionFinishedException if the migration was aborted
     */
    public void requestRelease(ReleaseTrigger trigger) {
        if (state == SessionState.ABORTED) {
            throw new SessionFinishedException(migrationId, MigrationRole.SOURCE, state);
        }
        if (releaseRequested.compareAndSet(false, true)) {
            releaseRequestedNanos = System.nanoTime();
            releasedAt = Instant.now();
            releaseTrigger = trigger;
            // A held stream waiting for frames sends its final count at once.
            capture.wake();
        }
    }

    /** What requested the release, if it was requested. */
    public @Nullable ReleaseTrigger releaseTrigger() {
        return releaseTrigger;
    }

    /**
     * Where the release's time went, in nanoseconds from the release requested ({@link #requestRelease}) to: the
     * release starting, the tap's last reads matched, the first chunk produced and the chunk with the last frame
     * kept at release produced; -1 for what has not happened.
     */
    public ReleaseTimings releaseTimings() {
        long start = releaseRequestedNanos;
        return new ReleaseTimings(since(start, releasedNanos), since(start, readsAccountedNanos),
                since(start, firstChunkNanos));
    }

    /** See {@link #releaseTimings()}. */
    public record ReleaseTimings(long releaseStarted, long readsAccounted, long firstChunk) {
    }

    private static long since(long start, long nanos) {
        return start == 0 || nanos == 0 ? -1 : nanos - start;
    }

    /**
     * The frame stream for the destination. Asking is also the acknowledgement: once released, frames up to
     * {@code after} are let go.
     *
     * <p>A {@code held} stream starts at once, before the release: it carries the kept frames the VM has left
     * unread for the forward-ahead delay and READ records as the VM reads on, so that the destination holds the
     * frames before its VM runs and injects them without waiting for this host (docs/frame-stream.md). Otherwise
     * asking requests the release first. After the release every kept frame goes at once, then the frames that
     * still reach this tap, then an END record once none has arrived for the quiet period (or at the deadline).
     */
    public Flux<DataBuffer> frames(long after, boolean held, DataBufferFactory buffers) {
        if (state == SessionState.ABORTED) {
            return Flux.error(new SessionFinishedException(migrationId, MigrationRole.SOURCE, state));
        }
        if (!held) {
            requestRelease(ReleaseTrigger.PULL);
        }
        StreamCursor cursor = new StreamCursor(after, buffers);
        Mono<DataBuffer> header = Mono.fromCallable(() -> {
            if (releaseRequested.get()) {
                if (release()) {
                    logReleased();
                }
                capture.acknowledge(after);
            }
            return encoder.header(buffers);
        });
        Flux<DataBuffer> body = Flux.defer(() -> cursor.ended ? Flux.empty()
                : Mono.fromCallable(cursor::next).repeat(() -> !cursor.ended));
        // The stream blocks between frames (waiting for the capture), so it runs on the forwarding scheduler.
        return Flux.concat(header, body).subscribeOn(forwardingScheduler)
                .doOnSubscribe(subscription -> activeStreams.incrementAndGet())
                .doFinally(signal -> activeStreams.decrementAndGet())
                .doOnDiscard(DataBuffer.class, DataBufferUtils::release);
    }

    /** Releases the kept frames unless done already; true if this call did. */
    private synchronized boolean release() throws InterruptedException {
        if (releasedNanos != 0) {
            return false;
        }
        requestRelease(ReleaseTrigger.PULL);
        releasedNanos = System.nanoTime();
        state = SessionState.FORWARDING;
        // Reads the tap counted just before the pause must be matched first, or a frame the VM has would be sent.
        boolean accounted = capture.awaitReadsAccounted(properties.readsAccountedTimeout());
        readsAccountedNanos = System.nanoTime();
        if (!accounted) {
            log.warn("{}: tap reads not yet matched after {}; forwarding may repeat frames the VM read",
                    migrationId, properties.readsAccountedTimeout());
        }
        readsFinal = accounted;
        return true;
    }

    private void logReleased() {
        log.info("{}: released {} kept frames to the destination on {} ({} µs matching the tap's last reads)",
                migrationId, capture.status().keptFrames(), releaseTrigger,
                (readsAccountedNanos - releasedNanos) / 1_000);
    }

    /** Ends forwarding for good: the migration failed or was cancelled, and the VM reads its own tap again. */
    void abort(String reason) {
        if (!state.finished()) {
            state = SessionState.ABORTED;
            failure = reason;
        }
        // A stream waiting for frames ends at once.
        capture.wake();
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
        /** The newest frame the VM had read when last looked at, and the newest one told to the destination. */
        private long readSeen = -1;
        private long readSent = -1;
        /** When the counter sample behind {@link #readSeen} was taken. */
        private long countedAt;
        private boolean finalSent;
        private long heldSent = -1;
        private long lastArrivalNanos;
        private long sent;
        private int chunks;
        private boolean ended;

        StreamCursor(long after, DataBufferFactory buffers) {
            this.lastSent = after;
            this.buffers = buffers;
        }

        @Nullable DataBuffer next() {
            try {
                return nextChunk();
            } catch (InterruptedException e) {
                // The stream was cancelled while it waited (the scheduler interrupts its worker): nothing to send.
                ended = true;
                Thread.currentThread().interrupt();
                return null;
            }
        }

        private @Nullable DataBuffer nextChunk() throws InterruptedException {
            if (state == SessionState.ABORTED) {
                ended = true;
                return null;
            }
            if (releaseRequested.get() && release()) {
                logReleased();
            }
            boolean released = releasedNanos != 0;
            if (lastArrivalNanos == 0 && released) {
                lastArrivalNanos = releasedNanos;
            }
            if (!released && !capture.capturing()) {
                // The tap is gone (the source VM ended): what is kept waits for the release.
                Thread.sleep(IDLE_WAIT);
                return null;
            }
            if (released && readsFinal && !finalSent) {
                // What the destination waits for before it injects: the count after the switchover.
                finalSent = true;
                CaptureSession.ReadCount count = capture.readCount();
                readSeen = Math.max(readSeen, count.readThrough());
                readSent = readSeen;
                List<DataBuffer> records = new ArrayList<>(2);
                // Counted by the release's own read of the tap's counters, made after releasedNanos.
                records.add(encoder.read(new SourceRead(readSeen + 1, ageMicros(releasedNanos), true), buffers));
                // The VM's last reads may have taken frames the destination holds (QEMU reads the frame it then
                // holds late in the downtime): the last one goes again, as the one the VMM may hold.
                offerHeldFrame(lastSent > readSeen ? readSeen + 1 : -1, records);
                return buffers.join(records);
            }
            long wakeups = capture.wakeups();
            if (!capture.awaitKeptAfterOrRead(Math.max(lastSent, readSeen), readSeen, wakeups,
                    released ? FRAME_WAIT : IDLE_WAIT)) {
                if (!released) {
                    return null;
                }
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
            CaptureSession.ReadCount count = capture.readCount();
            readSeen = count.readThrough();
            countedAt = count.countedAtNanos();
            List<DataBuffer> encoded = new ArrayList<>(properties.batchFrames() + 3);
            if (lastSent > readSent && readSeen > readSent) {
                // Frames the destination holds were read here after all: withdrawn.
                sendRead(encoded);
            }
            int batch = chunks++ == 0 ? Math.min(FIRST_CHUNK_FRAMES, properties.batchFrames())
                    : properties.batchFrames();
            long capturedThrough = released ? CaptureSession.ANY_CAPTURE_TIME
                    : System.nanoTime() - properties.forwardAheadAfter().toNanos();
            int[] frames = {0};
            long[] first = {-1};
            int firstAt = encoded.size();
            capture.readKeptAfter(lastSent, batch, capturedThrough, frame -> {
                if (frames[0]++ == 0) {
                    first[0] = frame.sequence();
                }
                lastSent = frame.sequence();
                if (sentByVm(frame)) {
                    return;
                }
                encoded.add(encoder.encode(frame, buffers));
                sent++;
                forwardedFrames.incrementAndGet();
                lastArrivalNanos = Math.max(lastArrivalNanos, frame.capturedNanos());
                forwardedBytes.addAndGet(frame.frame().byteSize());
            });
            if (frames[0] > 0) {
                // Not from inside the reader above: the capture hands every frame through one reusable view.
                List<DataBuffer> before = new ArrayList<>(2);
                offerHeldFrame(first[0], before);
                encoded.addAll(firstAt, before);
            }
            if (frames[0] == 0 && encoded.isEmpty() && !released) {
                // Kept frames, but none unread for the forward-ahead delay yet.
                Thread.sleep(FRAME_WAIT);
                return null;
            }
            if (!encoded.isEmpty()) {
                long now = System.nanoTime();
                if (firstChunkNanos == 0 && released) {
                    firstChunkNanos = now;
                }
            }
            return encoded.isEmpty() ? null : buffers.join(encoded);
        }

        private static long ageMicros(long countedAtNanos) {
            return countedAtNanos == 0 ? SourceRead.MAX_SAMPLE_AGE_MICROS : (System.nanoTime() - countedAtNanos) / 1_000;
        }

        private void sendRead(List<DataBuffer> encoded) {
            if (readSeen > readSent) {
                encoded.add(encoder.read(readSeen + 1, ageMicros(countedAt), buffers));
                readSent = readSeen;
            }
        }

        /**
         * Before the first frame of a chunk: the READ record up to the newest frame the VM read, and that frame
         * itself when the frame to be sent follows it directly, since the VMM may hold it (see
         * {@link ForwardingProperties#forwardFrameHeldByVmm()}).
         */
        private void offerHeldFrame(long firstSequence, List<DataBuffer> encoded) {
            sendRead(encoded);
            if (readSeen < 0 || readSeen + 1 != firstSequence) {
                return;
            }
            if (!properties.forwardFrameHeldByVmm() || heldSent == readSeen) {
                return;
            }
            capture.readLastRead(frame -> {
                if (frame.sequence() == readSeen) {
                    encoded.add(encoder.encodeHeldByVmm(frame, buffers));
                    heldSent = readSeen;
                    sent++;
                    forwardedBytes.addAndGet(frame.frame().byteSize());
                    forwardedHeldFrames.incrementAndGet();
                }
            });
        }
    }
}
