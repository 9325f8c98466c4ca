package io.netpass.agent.migration;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

import io.netpass.agent.capture.CaptureSession;
import io.netpass.agent.capture.CaptureStatus;
import io.netpass.agent.capture.KeptFrame;
import io.netpass.agent.capture.MacAddress;
import io.netpass.agent.stream.FinalCountDatagrams;
import io.netpass.agent.stream.FinalCountTarget;
import io.netpass.agent.stream.FrameStreamEncoder;
import io.netpass.agent.stream.PeerDatagram;
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
        /** The destination signalled that its VM runs, by its HTTP release request. */
        RELEASE_REQUEST,
        /** The destination signalled that its VM runs, by its sealed release datagram. */
        RELEASE_DATAGRAM,
        /** The moved VM's own frame (its announcement) was flooded back to this tap: it runs elsewhere. */
        VM_FRAME_FLOODED_BACK;

        /** Its name in status and as a meter tag. */
        public String tag() {
            return name().toLowerCase();
        }
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
    private volatile long finalCountSentNanos;
    private volatile long finalCountDatagramSentNanos;
    private final FinalCountDatagrams datagrams;
    private final AtomicBoolean finalCountDatagramSent = new AtomicBoolean();
    /** Where the destination asked for the final-count datagram, once it did. */
    private final AtomicReference<@Nullable FinalCountRoute> finalCountRoute = new AtomicReference<>();
    /** Listening for the destination's release datagram, from its first stream with a key until the session ends. */
    private volatile FinalCountDatagrams.@Nullable Listening releaseListening;
    private final Consumer<ReleaseTrigger> onReleaseRequested;
    /** Whether every read the tap counted after the VM moved was matched, when the datagram's count was taken. */
    private volatile boolean countedAfterSwitchover;
    private final CountDownLatch releaseOrAbort = new CountDownLatch(1);
    /** Whether the reads the tap counted at the release were all matched: then the count is final. */
    private volatile boolean readsFinal;
    private volatile @Nullable String failure;

    /** Where the final-count datagram goes, and its sealer, prepared when the destination asked for it. */
    private record FinalCountRoute(FinalCountTarget target, PeerDatagram.Sealer sealer) {
    }

    SourceSession(String migrationId, CaptureSession capture, Set<Long> vmMacs,
            ForwardingProperties properties, Scheduler forwardingScheduler, FinalCountDatagrams datagrams,
            Consumer<ReleaseTrigger> onReleaseRequested) {
        this.datagrams = datagrams;
        this.onReleaseRequested = onReleaseRequested;
        this.vmMacs = vmMacs;
        this.migrationId = migrationId;
        this.capture = capture;
        this.properties = properties;
        this.forwardingScheduler = forwardingScheduler;
        capture.whenFrameFrom(vmMacs, this::vmFrameFloodedBack);
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
     * count of the VM's reads and every kept frame at once. Only the first call counts; it does not block.
     *
     * @throws SessionFinishedException if the migration was aborted
     */
    public void requestRelease(ReleaseTrigger trigger) {
        if (state == SessionState.ABORTED) {
            throw new SessionFinishedException(migrationId, MigrationRole.SOURCE, state);
        }
        if (markReleaseRequested(trigger)) {
            wakeForRelease();
            onReleaseRequested.accept(trigger);
        }
    }

    /**
     * The moved VM's own frame reached this tap: it runs elsewhere. On the thread that saw it (the capture's watch
     * for it, see {@link CaptureSession#whenFrameFrom}), the final count is taken and sent at once, before any other
     * thread is woken for the release: each wake-up would cost the destination's VM a fraction of a millisecond.
     */
    private void vmFrameFloodedBack() {
        if (state == SessionState.ABORTED || !markReleaseRequested(ReleaseTrigger.VM_FRAME_FLOODED_BACK)) {
            return;
        }
        FinalCountRoute route = finalCountRoute.get();
        if (route != null) {
            countNowAndSend(route);
        }
        wakeForRelease();
        onReleaseRequested.accept(ReleaseTrigger.VM_FRAME_FLOODED_BACK);
    }

    /**
     * The destination's release datagram: its VM runs. Called on the final-count port's receiving thread, which runs
     * at the release path's priority: the count is taken on the session's own thread instead, at the ordinary one
     * (a source count that wins the CPU from its QEMU's last reads of the tap is taken too early, see
     * {@link io.netpass.agent.linux.ThreadPriority}), and only it is woken, the streams once the count is sent.
     * Returns whether this was the first word of the switchover.
     */
    private boolean releaseDatagram() {
        if (state == SessionState.ABORTED || !markReleaseRequested(ReleaseTrigger.RELEASE_DATAGRAM)) {
            return false;
        }
        releaseOrAbort.countDown();
        onReleaseRequested.accept(ReleaseTrigger.RELEASE_DATAGRAM);
        return true;
    }

    private boolean markReleaseRequested(ReleaseTrigger trigger) {
        if (!releaseRequested.compareAndSet(false, true)) {
            return false;
        }
        releaseRequestedNanos = System.nanoTime();
        releasedAt = Instant.now();
        releaseTrigger = trigger;
        return true;
    }

    private void wakeForRelease() {
        // A held stream waiting for frames sends its final count at once.
        capture.wake();
        releaseOrAbort.countDown();
    }

    /**
     * Until the release is requested, then sends the final count as a datagram unless the capture thread did: for
     * releases that the destination or a pull requested. Released by the destination's datagram, it counts at once,
     * as the capture's watch does, and wakes the streams after.
     */
    private void awaitReleaseThenSendFinalCount(FinalCountRoute route) {
        try {
            releaseOrAbort.await();
            if (state == SessionState.ABORTED || finalCountDatagramSent.get()) {
                return;
            }
            if (releaseTrigger == ReleaseTrigger.RELEASE_DATAGRAM) {
                boolean sent = countNowAndSend(route);
                capture.wake();
                if (sent) {
                    return;
                }
            }
            if (release()) {
                logReleased();
            }
            if (readsFinal && state != SessionState.ABORTED) {
                sendFinalCountDatagram(route, capture.readCount());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Takes the final count now, on the calling thread, and sends it, if every read the tap counted is matched;
     * returns whether it was taken.
     */
    private boolean countNowAndSend(FinalCountRoute route) {
        CaptureSession.ReadCount count = capture.readCountNow();
        if (count == null) {
            return false;
        }
        countedAfterSwitchover = true;
        sendFinalCountDatagram(route, count);
        return true;
    }

    /**
     * Sends the final count, and the frame the VMM may hold, in a datagram as well as on the stream: the stream's
     * copy waits behind what the stream carries before it and for the threads it passes, while the destination's VM
     * runs without those frames. Once per session.
     */
    private void sendFinalCountDatagram(FinalCountRoute route, CaptureSession.ReadCount count) {
        if (!finalCountDatagramSent.compareAndSet(false, true)) {
            return;
        }
        try {
            SourceRead finalCount = new SourceRead(count.readThrough() + 1, ageMicros(count.countedAtNanos()), true);
            DataBuffer[] held = {null};
            if (properties.forwardFrameHeldByVmm()) {
                capture.readLastRead(frame -> {
                    if (frame.sequence() == count.readThrough()) {
                        held[0] = encoder.encodeHeldByVmm(frame, DefaultDataBufferFactory.sharedInstance);
                    }
                });
            }
            byte[] datagram = route.sealer().sealFinalCount(finalCount, held[0]);
            if (datagram == null) {
                log.info("{}: the final count and the frame its VMM may hold exceed a datagram; the stream carries "
                        + "them", migrationId);
            } else if (datagrams.send(PeerDatagram.Kind.FINAL_COUNT, route.target().address(), datagram)) {
                finalCountDatagramSentNanos = System.nanoTime();
            }
        } catch (RuntimeException e) {
            log.warn("{}: sending the final-count datagram failed: {}", migrationId, e.getMessage());
        }
    }

    private static long ageMicros(long countedAtNanos) {
        return countedAtNanos == 0 ? SourceRead.MAX_SAMPLE_AGE_MICROS : (System.nanoTime() - countedAtNanos) / 1_000;
    }

    /** What requested the release, if it was requested. */
    public @Nullable ReleaseTrigger releaseTrigger() {
        return releaseTrigger;
    }

    /**
     * Where the release's time went, in nanoseconds from the release requested ({@link #requestRelease}) to: the
     * release starting, the tap's last reads matched, the final count sent as a datagram and on the stream, and the
     * first chunk of frames after the release produced; -1 for what has not happened.
     */
    public ReleaseTimings releaseTimings() {
        long start = releaseRequestedNanos;
        return new ReleaseTimings(since(start, releasedNanos), since(start, readsAccountedNanos),
                since(start, finalCountDatagramSentNanos), since(start, finalCountSentNanos),
                since(start, firstChunkNanos));
    }

    /** See {@link #releaseTimings()}. */
    public record ReleaseTimings(long releaseStarted, long readsAccounted, long finalCountDatagramSent,
            long finalCountStreamed, long firstChunk) {
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
     * With {@code finalCount}, the final count also goes there as a datagram the moment the release is requested.
     */
    public Flux<DataBuffer> frames(long after, boolean held, @Nullable FinalCountTarget finalCount,
            DataBufferFactory buffers) {
        if (state == SessionState.ABORTED) {
            return Flux.error(new SessionFinishedException(migrationId, MigrationRole.SOURCE, state));
        }
        FinalCountRoute route = finalCount == null ? null
                : new FinalCountRoute(finalCount, finalCount.sealer(migrationId));
        if (route != null && finalCountRoute.compareAndSet(null, route)) {
            // Waiting already, so that the count leaves the moment the release is requested.
            Thread.ofPlatform().name("final-count-" + migrationId).daemon()
                    .start(() -> awaitReleaseThenSendFinalCount(route));
            if (datagrams.listening()) {
                // Before the response tells the destination the port: no release datagram can come sooner.
                releaseListening = datagrams.listenForRelease(migrationId, route.target().key(),
                        this::releaseDatagram);
                if (state.finished()) {
                    stopListening();
                }
            }
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

    /**
     * The UDP port the destination may send its release datagram to, sealed with the key of its final-count request;
     * null unless this session listens for it (no stream with a key yet, or this agent receives no datagrams).
     */
    public @Nullable Integer releaseDatagramPort() {
        return releaseListening == null ? null : datagrams.port();
    }

    private void stopListening() {
        FinalCountDatagrams.Listening listening = releaseListening;
        if (listening != null) {
            listening.close();
        }
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
        // The capture thread may have matched them all already, after the switchover, for the datagram.
        boolean accounted = countedAfterSwitchover
                || capture.awaitReadsAccounted(properties.readsAccountedTimeout());
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
        releaseOrAbort.countDown();
        stopListening();
    }

    /** Ends the session for good (disarmed): forwarding ends unless it completed, the capture stops. */
    void close() {
        if (state != SessionState.COMPLETED) {
            abort("disarmed");
        }
        stopListening();
        capture.close();
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
                finalCountSentNanos = System.nanoTime();
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
