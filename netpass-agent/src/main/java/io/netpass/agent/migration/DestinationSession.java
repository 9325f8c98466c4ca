package io.netpass.agent.migration;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;

import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.capture.TapWatch;
import io.netpass.agent.inject.InjectionReport;
import io.netpass.agent.inject.TapInjector;
import io.netpass.agent.linux.ThreadPriority;
import io.netpass.agent.stream.FinalCountDatagrams;
import io.netpass.agent.stream.FinalCountRequest;
import io.netpass.agent.stream.ForwardedFrame;
import io.netpass.agent.stream.FrameStreamDecoder;
import io.netpass.agent.stream.FrameStreamRecord;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.stream.PeerDatagram;
import io.netpass.agent.stream.SourceRead;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.util.retry.Retry;

/**
 * The destination side of a migration: holds the frames the source forwards ahead while the VM is paused there, and
 * injects them in order once its VM runs here and the source's final count of its VM's reads is in, then what still
 * arrives. A broken stream is reopened
 * after the last frame received, so nothing is lost or injected twice.
 */
public final class DestinationSession {

    private static final Logger log = LoggerFactory.getLogger(DestinationSession.class);
    /** Injected sequences remembered after the release, to count any the source then reports its VM had read. */
    private static final int REMEMBERED_INJECTIONS = 65_536;

    private final String migrationId;
    private final TapLocation location;
    private final URI sourceAgent;
    private final PeerClient peers;
    private final ForwardingProperties properties;
    private final Scheduler injectionScheduler;
    private final TapWatch watch;
    private final Instant armedAt = Instant.now();
    private final AtomicLong injectedFrames = new AtomicLong();
    private final AtomicLong injectedBytes = new AtomicLong();
    private final AtomicLong injectionFailures = new AtomicLong();
    private final AtomicLong skippedAlreadyDelivered = new AtomicLong();
    private final AtomicLong skippedSentByVm = new AtomicLong();
    private final AtomicLong reconnects = new AtomicLong();
    private final Sinks.Empty<Void> released = Sinks.empty();
    private volatile SessionState state = SessionState.ARMED;
    private volatile long lastInjected = FrameStreamDecoder.NO_SEQUENCE;
    private volatile long vmRunningNanos;
    private volatile @Nullable Instant vmRunningAt;
    private volatile long firstInjectionNanos;
    private volatile long burstInjectedNanos;
    /** How long the release burst ran under SCHED_FIFO; -1 if it did not (off, refused, or not yet released). */
    private volatile long burstRealTimeNanos = -1;
    private volatile @Nullable String failure;
    private volatile @Nullable Disposable pull;
    /** Whether the current attempt got a response: only then is its failure a reconnect. */
    private volatile boolean streamOpened;
    private final Consumer<DestinationSession> onCompleted;

    // Guarded by this: the frames held until the VM runs, and what the source said its VM read.
    private final ArrayDeque<ForwardedFrame> staged = new ArrayDeque<>();
    private long stagedBytes;
    private long lastReceived = FrameStreamDecoder.NO_SEQUENCE;
    private long sourceReadThrough = FrameStreamDecoder.NO_SEQUENCE;
    private @Nullable ForwardedFrame heldByVmm;
    private long burstEnd = FrameStreamDecoder.NO_SEQUENCE;
    private long stagedAtRelease;
    private long withdrawnFrames;
    private long readAfterInjection;
    private long injectedHeldByVmm;
    /** Whether the source sent its count taken after it learned of the switchover (a READ with FINAL_COUNT). */
    private boolean finalCountSeen;
    private volatile boolean awaitingFinalCount;
    private long lastChunkNanos;
    private long waitedForFinalCountNanos = -1;
    private long releasesWithoutFinalCount;
    private final ArrayDeque<Long> injectedSinceRelease = new ArrayDeque<>();
    private @Nullable TapInjector injector;
    /** Whether the source's final count came first by datagram rather than on the stream. */
    private boolean finalCountByDatagram;
    private @Nullable SourceRead finalCountToLog;
    private final @Nullable FinalCountRequest finalCountRequest;
    private final FinalCountDatagrams.@Nullable Listening finalCountListener;
    private final FinalCountDatagrams datagrams;
    /** The source agent's host, resolved at arming (off the event loop), for the release datagram; null if not. */
    private final @Nullable InetAddress sourceHost;
    /** Where the release datagram goes, and its sealer, once the source's stream response gave its port. */
    private final AtomicReference<@Nullable ReleaseRoute> releaseRoute = new AtomicReference<>();

    private record ReleaseRoute(InetSocketAddress address, PeerDatagram.Sealer sealer) {
    }

    DestinationSession(String migrationId, TapLocation location, List<String> vmMacs, URI sourceAgent,
            PeerClient peers, ForwardingProperties properties, CaptureProperties captureProperties,
            Scheduler injectionScheduler, FinalCountDatagrams datagrams, Consumer<DestinationSession> onCompleted) {
        this.onCompleted = onCompleted;
        this.migrationId = migrationId;
        this.location = location;
        this.sourceAgent = sourceAgent;
        this.peers = peers;
        this.properties = properties;
        this.injectionScheduler = injectionScheduler;
        this.datagrams = datagrams;
        byte[] key = PeerDatagram.newKey();
        this.finalCountRequest = datagrams.listening() ? new FinalCountRequest(datagrams.port(), key) : null;
        this.sourceHost = finalCountRequest == null ? null : resolve(sourceAgent);
        this.watch = TapWatch.start(location, vmMacs, captureProperties, this::vmRunning);
        try {
            // Opened now, off the event loop and before the VM can run, when growing its ring drops nothing.
            TapInjector opened = TapInjector.open(location, properties.injectionStallTimeout(), watch::handedFrames);
            opened.growRingBeforeTheVmRuns(properties.injectionHeadroom());
            this.injector = opened;
        } catch (RuntimeException e) {
            watch.close();
            throw e;
        }
        // Before the stream that hands the key to the source is opened: no datagram can come sooner.
        this.finalCountListener = finalCountRequest == null ? null
                : datagrams.listenForFinalCount(migrationId, key, this::finalCountDatagram);
        startPulling();
    }

    private static @Nullable InetAddress resolve(URI sourceAgent) {
        String host = sourceAgent.getHost();
        if (host == null) {
            return null;
        }
        try {
            return InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            log.info("source agent host {} does not resolve ({}): the release goes by HTTP request alone", host,
                    e.getMessage());
            return null;
        }
    }

    /**
     * The source listens for the release datagram on {@code port} (its answer to the stream's request): the sealer
     * is prepared now, so that telling it costs the switchover one encryption and one send.
     */
    private void sourceListensForRelease(int port) {
        FinalCountRequest request = finalCountRequest;
        InetAddress host = sourceHost;
        ReleaseRoute route = releaseRoute.get();
        if (request == null || host == null || route != null && route.address().getPort() == port) {
            return;
        }
        releaseRoute.compareAndSet(route, new ReleaseRoute(new InetSocketAddress(host, port),
                PeerDatagram.sealer(PeerDatagram.Kind.RELEASE, migrationId, request.key())));
    }

    /** Tells the source that the VM runs here by datagram, if it listens for one; it is told by HTTP as well. */
    private void sendReleaseDatagram() {
        ReleaseRoute route = releaseRoute.get();
        if (route == null) {
            return;
        }
        try {
            datagrams.send(PeerDatagram.Kind.RELEASE, route.address(), route.sealer().sealRelease());
        } catch (RuntimeException e) {
            log.warn("{}: sending the release datagram failed: {}", migrationId, e.getMessage());
        }
    }

    /**
     * The VM runs here (its first frame, or its tap read): the source is told, and the held frames are injected at
     * once, on the watch thread that saw it, if the source's final count is in already, or else when it comes.
     */
    private void vmRunning(long nanos) {
        boolean countIn;
        synchronized (this) {
            if (vmRunningNanos != 0 || state != SessionState.ARMED) {
                return;
            }
            vmRunningNanos = nanos;
            vmRunningAt = Instant.now();
            state = SessionState.FORWARDING;
            stagedAtRelease = staged.size();
            burstEnd = staged.isEmpty() ? FrameStreamDecoder.NO_SEQUENCE : staged.getLast().sequence();
            countIn = finalCountSeen;
            awaitingFinalCount = !countIn;
            if (awaitingFinalCount) {
                // The source VM may still have read frames held here, up to its very last moment (QEMU reads the
                // frame it then holds or purges late in the downtime): only a count the source took after it
                // learned of the switchover says which. It comes at once, up to the reads-accounted timeout.
                awaitFinalCount(properties.readsAccountedTimeout());
            } else {
                injectStaged();
            }
        }
        if (!countIn) {
            // First: the source's final count, which the injection waits for, comes back the sooner.
            sendReleaseDatagram();
        }
        released.tryEmitEmpty();
        // Logged and told by HTTP after the injection: either costs hundreds of µs. A source that sent its final count
        // knows already: telling it would only take CPU from the burst. The HTTP request stays the reliable copy of
        // the release datagram, which may be lost.
        if (!countIn) {
            peers.release(sourceAgent, migrationId).subscribe(null, error -> log.warn(
                    "{}: telling the source agent that the VM runs failed: {}", migrationId, error.getMessage()));
            log.info("{}: destination VM runs on {}; {} frames held for it wait for the source's final count of its "
                    + "VM's reads", migrationId, location, stagedAtRelease);
        } else {
            log.info("{}: destination VM runs on {}; injected the {} frames held for it", migrationId, location,
                    stagedAtRelease);
        }
    }

    /** Injects now, for orchestrators that report the destination running before its first frame is seen. */
    void destinationResumed() {
        if (vmRunningNanos == 0) {
            vmRunning(System.nanoTime());
        }
    }

    /**
     * Pulls from arming on: the held stream before the VM runs, a plain one after. Retried while armed (the source
     * side may be armed after this one, or its agent restart) and for the reconnect window once the VM runs.
     */
    private void startPulling() {
        pull = Flux.defer(this::pullOnce)
                .retryWhen(Retry.backoff(Long.MAX_VALUE, Duration.ofMillis(5))
                        .maxBackoff(Duration.ofMillis(200))
                        .filter(error -> state == SessionState.ARMED || state == SessionState.FORWARDING
                                && System.nanoTime() - vmRunningNanos < properties.reconnectWindow().toNanos())
                        .doBeforeRetry(signal -> {
                            if (streamOpened) {
                                reconnects.incrementAndGet();
                                log.info("{}: frame stream broke ({}); resuming after {}", migrationId,
                                        signal.failure().getMessage(), resumeAfter());
                            } else {
                                // As a rule the source side is not armed yet, or its agent restarts.
                                log.debug("{}: opening the frame stream failed ({}); trying again", migrationId,
                                        signal.failure().getMessage());
                            }
                        }))
                .subscribe(null, this::pullFailed, this::pullCompleted);
    }

    private synchronized long resumeAfter() {
        return lastReceived;
    }

    /** One request: the records after the last frame received, decoded and acted on chunk by chunk. */
    private Flux<Void> pullOnce() {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        boolean hold = vmRunningNanos == 0;
        streamOpened = false;
        return peers.frames(sourceAgent, migrationId, resumeAfter(), hold, finalCountRequest,
                this::sourceListensForRelease)
                .doOnNext(chunk -> streamOpened = true)
                // Before the VM runs the stream may rightly be idle for minutes; after, a stream that stops
                // delivering without breaking is treated as broken and resumed.
                .timeout(Mono.defer(this::idleTimeout), chunk -> Mono.defer(this::idleTimeout))
                .publishOn(injectionScheduler, 4)
                .concatMap(chunk -> {
                    receive(decoder.decode(chunk));
                    return roomToStage();
                })
                .doOnDiscard(DataBuffer.class, DataBufferUtils::release)
                .concatWith(Mono.defer(() -> {
                    decoder.finish();
                    return decoder.ended() ? Mono.empty()
                            : Mono.error(new IllegalStateException("stream ended without END record"));
                }));
    }

    private Mono<Long> idleTimeout() {
        return released.asMono().then(Mono.delay(properties.streamIdleTimeout()));
    }

    /** Completes once the held frames fit the staging capacity; until then the stream is not read (backpressure). */
    private Mono<Void> roomToStage() {
        return Mono.defer(() -> hasRoom() ? Mono.<Void>empty()
                : Flux.interval(Duration.ofMillis(1)).filter(tick -> hasRoom()).next().then());
    }

    private synchronized boolean hasRoom() {
        return stagedBytes < properties.stagingCapacity().toBytes() || state != SessionState.ARMED;
    }

    private void receive(List<FrameStreamRecord> records) {
        synchronized (this) {
            lastChunkNanos = System.nanoTime();
            apply(records);
            injectIfDue();
        }
        logFinalCount();
    }

    /** Logged once injected: it costs a fraction of a millisecond. */
    private void logFinalCount() {
        SourceRead read;
        boolean byDatagram;
        synchronized (this) {
            read = finalCountToLog;
            byDatagram = finalCountByDatagram;
            finalCountToLog = null;
        }
        if (read != null) {
            log.info("{}: the source's final count is in{}: its VM read up to frame {}, counted {} µs before it was "
                    + "sent", migrationId, byDatagram ? " by datagram" : "", read.unreadFrom() - 1,
                    read.sampleAgeMicros());
        }
    }

    /**
     * The source's final count and the frame its VMM may hold, by datagram: acted on as if the stream had brought
     * them, unless it did already. Returns whether this was the first final count.
     */
    private boolean finalCountDatagram(List<FrameStreamRecord> records) {
        boolean injectHere;
        synchronized (this) {
            if (finalCountSeen || state.finished()) {
                return false;
            }
            finalCountByDatagram = true;
            apply(records);
            // A burst that fits the room made in the tap's ring never waits, so the receiving thread, which serves
            // every session, injects it itself: a hand-over to another thread costs a wake-up.
            injectHere = staged.size() <= properties.injectionHeadroom();
            if (injectHere) {
                injectIfDue();
            }
        }
        if (!injectHere) {
            injectionScheduler.schedule(this::injectIfDue);
        }
        logFinalCount();
        return true;
    }

    /** Acts on records from the source, in order; the caller holds this session's lock. */
    private void apply(List<FrameStreamRecord> records) {
        for (FrameStreamRecord record : records) {
            switch (record) {
                // Once the final count is in, what the source's tap counts later is its VMM reading after its VM
                // stopped for good (frames it purges or holds, docs/reconciliation.md), never a delivery: those
                // frames stay to be injected. The datagram and the stream each bring a final count; the first wins.
                case SourceRead read when finalCountSeen -> { }
                case SourceRead read -> {
                    if (read.finalCount()) {
                        finalCountToLog = read;
                    }
                    sourceRead(read.unreadFrom() - 1, read.finalCount());
                }
                case ForwardedFrame frame when frame.heldByVmm() -> {
                    // Only the one that comes with the first final count, and only before the first injection.
                    if (lastInjected == FrameStreamDecoder.NO_SEQUENCE
                            && (!finalCountSeen || frame.sequence() == sourceReadThrough)) {
                        heldByVmm = frame;
                    }
                }
                case ForwardedFrame frame -> {
                    lastReceived = frame.sequence();
                    if (frame.sequence() > sourceReadThrough && frame.sequence() > lastInjected) {
                        staged.addLast(frame);
                        stagedBytes += frame.frame().length;
                    }
                }
            }
        }
    }

    /** Injects what is held once the VM runs here and the source's final count is in (or was given up on). */
    private synchronized void injectIfDue() {
        if (vmRunningNanos != 0 && awaitingFinalCount && finalCountSeen) {
            awaitingFinalCount = false;
            waitedForFinalCountNanos = System.nanoTime() - vmRunningNanos;
        }
        if (vmRunningNanos != 0 && !awaitingFinalCount) {
            injectStaged();
        }
    }

    private void awaitFinalCount(Duration wait) {
        Mono.delay(wait).subscribe(tick -> injectWithoutFinalCount());
    }

    /**
     * Injects without the source's final count if none came within the reads-accounted timeout. A stream still
     * delivering is waited for: the final count comes in order, behind the frames the source sent before it.
     */
    private synchronized void injectWithoutFinalCount() {
        long sinceLastChunk = System.nanoTime() - lastChunkNanos;
        long timeout = properties.readsAccountedTimeout().toNanos();
        if (awaitingFinalCount && state == SessionState.FORWARDING && sinceLastChunk < timeout) {
            awaitFinalCount(Duration.ofNanos(timeout - sinceLastChunk));
            return;
        }
        if (awaitingFinalCount && state == SessionState.FORWARDING) {
            awaitingFinalCount = false;
            if (staged.isEmpty()) {
                return;
            }
            releasesWithoutFinalCount++;
            log.warn("{}: the source's final count of its VM's reads did not come within {}; injecting the frames "
                    + "held anyway", migrationId, properties.readsAccountedTimeout());
            injectStaged();
        }
    }

    /** The source VM read every frame up to {@code sequence}: those held are withdrawn. */
    private void sourceRead(long sequence, boolean finalCount) {
        finalCountSeen |= finalCount;
        if (sequence <= sourceReadThrough) {
            return;
        }
        sourceReadThrough = sequence;
        while (!staged.isEmpty() && staged.getFirst().sequence() <= sequence) {
            stagedBytes -= staged.removeFirst().frame().length;
            withdrawnFrames++;
        }
        if (heldByVmm != null && heldByVmm.sequence() != sequence) {
            heldByVmm = null;
        }
        while (!injectedSinceRelease.isEmpty() && injectedSinceRelease.getFirst() <= sequence) {
            injectedSinceRelease.removeFirst();
            readAfterInjection++;
        }
        if (readAfterInjection > 0 && vmRunningNanos != 0) {
            log.warn("{}: the source reports {} frames already injected here as read by its VM", migrationId,
                    readAfterInjection);
        }
    }

    /**
     * Injects every held frame, in order; the caller holds the lock. The frames held at the release go as one burst
     * under real time ({@link ThreadPriority#realTimeBurst()}), bounded in time; what comes after them does not: it
     * keeps coming for as long as the network takes to re-learn the VM's place.
     */
    private void injectStaged() {
        ThreadPriority.RealTimeBurst burst = lastInjected < burstEnd ? ThreadPriority.realTimeBurst()
                : ThreadPriority.RealTimeBurst.ORDINARY;
        try (burst) {
            injectEveryStagedFrame(burst);
        }
        if (burst.realTimeNanos() >= 0) {
            burstRealTimeNanos = burst.realTimeNanos();
        }
    }

    private void injectEveryStagedFrame(ThreadPriority.RealTimeBurst burst) {
        TapInjector target = injector;
        if (target == null || staged.isEmpty()) {
            return;
        }
        while (!staged.isEmpty()) {
            ForwardedFrame frame = staged.removeFirst();
            stagedBytes -= frame.frame().length;
            if (frame.sequence() > burstEnd && lastInjected <= burstEnd) {
                // The first frame after those held at the release: they leave first, and real time ends.
                endBurst(target, burst);
            }
            burst.endIfOverdue();
            ForwardedFrame held = heldByVmm;
            if (held != null) {
                heldByVmm = null;
                // The frame the source VM read last, if the ones injected start right after it: its VMM may hold it.
                if (lastInjected == FrameStreamDecoder.NO_SEQUENCE && held.sequence() + 1 == frame.sequence()) {
                    injectOne(target, held);
                    injectedHeldByVmm++;
                }
            }
            injectOne(target, frame);
        }
        endBurst(target, burst);
        InjectionReport report = target.report();
        injectedFrames.set(report.injectedFrames());
        injectedBytes.set(report.injectedBytes());
        injectionFailures.set(report.failedFrames());
    }

    /** Sends what is queued and, once the frames held at the release are all in the tap, notes when. */
    private void endBurst(TapInjector target, ThreadPriority.RealTimeBurst burst) {
        target.flush();
        // With nothing held at the release, the first injection after it counts (as ever).
        if (burstInjectedNanos == 0 && lastInjected >= burstEnd && lastInjected != FrameStreamDecoder.NO_SEQUENCE) {
            burstInjectedNanos = System.nanoTime();
        }
        // After the time is taken: an ordinary thread may lose the CPU at once.
        burst.end();
    }

    private void injectOne(TapInjector target, ForwardedFrame frame) {
        MemorySegment bytes = MemorySegment.ofArray(frame.frame());
        if (watch.sentByVm(bytes)) {
            // The VM's own announcement or ARP, flooded back to the old tap after it moved: a VM must not receive
            // itself (IPv6 duplicate address detection would see a conflict).
            skippedSentByVm.incrementAndGet();
        } else if (watch.alreadyDelivered(bytes)) {
            skippedAlreadyDelivered.incrementAndGet();
        } else {
            target.inject(frame.sequence(), MemorySegment.ofArray(frame.vnetHeader()), bytes);
            if (firstInjectionNanos == 0) {
                // The first frame leaves alone rather than with a full batch: the VM has it sooner.
                target.flush();
                firstInjectionNanos = System.nanoTime();
            }
            if (injectedSinceRelease.size() == REMEMBERED_INJECTIONS) {
                injectedSinceRelease.removeFirst();
            }
            injectedSinceRelease.addLast(frame.sequence());
        }
        lastInjected = Math.max(lastInjected, frame.sequence());
    }

    private void pullCompleted() {
        synchronized (this) {
            state = SessionState.COMPLETED;
            if (burstInjectedNanos == 0) {
                burstInjectedNanos = firstInjectionNanos;
            }
        }
        log.info("{}: injected {} frames ({} failed, {} already delivered directly, {} sent by the VM itself, {} "
                + "withdrawn as read by the source VM)", migrationId, injectedFrames.get(), injectionFailures.get(),
                skippedAlreadyDelivered.get(), skippedSentByVm.get(), withdrawnFrames());
        onCompleted.accept(this);
        closeInjectorLater();
    }

    private void pullFailed(Throwable error) {
        if (state == SessionState.FORWARDING || state == SessionState.ARMED) {
            state = SessionState.FAILED;
            failure = error.getMessage();
            log.warn("{}: forwarding failed: {}", migrationId, error.getMessage());
        }
        closeInjectorLater();
    }

    /** Closing sends what is left once the VM makes room, so it runs off the injection thread. */
    private void closeInjectorLater() {
        Thread.ofVirtual().name("close-injector-" + migrationId).start(this::closeInjector);
    }

    private synchronized void closeInjector() {
        if (injector != null) {
            if (vmRunningNanos == 0) {
                injector.restoreRingLengthBeforeTheVmRuns();
            }
            injector.close();
            injector = null;
        }
        staged.clear();
        stagedBytes = 0;
        watch.close();
        stopListening();
    }

    private void stopListening() {
        if (finalCountListener != null) {
            finalCountListener.close();
        }
    }

    void abort(String reason) {
        synchronized (this) {
            if (!state.finished()) {
                state = SessionState.ABORTED;
                failure = reason;
            }
        }
        Disposable running = pull;
        if (running != null) {
            running.dispose();
        }
    }

    /**
     * Stops pulling and frees the tap. The injector closes once a batch still waiting for room in the tap's ring is
     * done (at most the stall timeout): disarming does not wait for it.
     */
    void close() {
        abort("disarmed");
        closeInjectorLater();
    }

    public String migrationId() {
        return migrationId;
    }

    public TapLocation location() {
        return location;
    }

    public URI sourceAgent() {
        return sourceAgent;
    }

    public SessionState state() {
        return state;
    }

    public Instant armedAt() {
        return armedAt;
    }

    public @Nullable Instant vmRunningAt() {
        return vmRunningAt;
    }

    public @Nullable String failure() {
        return failure;
    }

    public long injectedFrames() {
        return injectedFrames.get();
    }

    public long injectedBytes() {
        return injectedBytes.get();
    }

    public long injectionFailures() {
        return injectionFailures.get();
    }

    public long skippedAlreadyDelivered() {
        return skippedAlreadyDelivered.get();
    }

    /** Forwarded frames not injected because the VM itself had sent them. */
    public long skippedSentByVm() {
        return skippedSentByVm.get();
    }

    public long reconnects() {
        return reconnects.get();
    }

    public long lastInjectedSequence() {
        return lastInjected;
    }

    /** Frames held for the VM now, before it runs. */
    public synchronized long stagedFrames() {
        return staged.size();
    }

    /** Frames held for the VM when it was seen running, and so injected at once. */
    public synchronized long stagedAtRelease() {
        return stagedAtRelease;
    }

    /** Frames the source VM read last and its VMM may have held, injected before the frames that follow it (0 or 1). */
    public synchronized long injectedHeldByVmm() {
        return injectedHeldByVmm;
    }

    /**
     * Releases that injected the frames held without the source's final count of its VM's reads, which did not come
     * within the reads-accounted timeout (0 or 1).
     */
    public synchronized long releasesWithoutFinalCount() {
        return releasesWithoutFinalCount;
    }

    /** Whether the source's final count came first by datagram (1) rather than on the stream (0). */
    public synchronized long finalCountByDatagram() {
        return finalCountByDatagram ? 1 : 0;
    }

    /** Nanoseconds from the VM seen running to the source's final count of its VM's reads; -1 if it came before. */
    public synchronized long waitedForFinalCountNanos() {
        return waitedForFinalCountNanos;
    }

    /** Frames received ahead and then withdrawn: the source VM read them after all. */
    public synchronized long withdrawnFrames() {
        return withdrawnFrames;
    }

    /**
     * Frames injected here that the source later reported its VM had read: delivered twice. Frames are injected on
     * the source's final count, so this stays 0 unless that count did not come in time (docs/frame-stream.md).
     */
    public synchronized long readAfterInjection() {
        return readAfterInjection;
    }

    /** How long the release burst ran under SCHED_FIFO ({@link ThreadPriority}); -1 if it did not (yet). */
    public long burstRealTimeNanos() {
        return burstRealTimeNanos;
    }

    /** Nanoseconds from the VM seen running to the first injected frame; -1 if none yet. */
    public long releaseToFirstInjectionNanos() {
        return firstInjectionNanos == 0 ? -1 : firstInjectionNanos - vmRunningNanos;
    }

    /** Nanoseconds from the VM seen running to the last frame held for it then injected; -1 if not yet. */
    public long releaseToBurstInjectedNanos() {
        return burstInjectedNanos == 0 ? -1 : burstInjectedNanos - vmRunningNanos;
    }
}
