package io.netpass.agent.migration;

import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
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
import io.netpass.agent.stream.ForwardedFrame;
import io.netpass.agent.stream.FrameStreamDecoder;
import io.netpass.agent.stream.PeerClient;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.util.retry.Retry;

/**
 * The destination side of a migration: watches the VM's tap until the VM runs, then pulls the source's kept frames
 * and injects them in order. A broken stream is reopened after the last injected frame, so nothing is lost or
 * injected twice.
 */
public final class DestinationSession {

    private static final Logger log = LoggerFactory.getLogger(DestinationSession.class);

    private final String migrationId;
    private final TapLocation location;
    private final URI sourceAgent;
    private final PeerClient peers;
    private final ForwardingProperties properties;
    private final Scheduler injectionScheduler;
    private final TapWatch watch;
    private final Instant armedAt = Instant.now();
    private final AtomicBoolean pulling = new AtomicBoolean();
    private final AtomicLong injectedFrames = new AtomicLong();
    private final AtomicLong injectedBytes = new AtomicLong();
    private final AtomicLong injectionFailures = new AtomicLong();
    private final AtomicLong skippedAlreadyDelivered = new AtomicLong();
    private final AtomicLong skippedSentByVm = new AtomicLong();
    private final AtomicLong reconnects = new AtomicLong();
    private volatile SessionState state = SessionState.ARMED;
    private volatile long lastInjected = FrameStreamDecoder.NO_SEQUENCE;
    private volatile long releaseSequence = -1;
    private volatile long vmRunningNanos;
    private volatile @Nullable Instant vmRunningAt;
    private volatile long pullStartedNanos;
    private volatile long responseNanos;
    private volatile long firstChunkNanos;
    private volatile long firstDecodeNanos;
    private volatile long firstInjectionNanos;
    private volatile long burstInjectedNanos;
    private volatile @Nullable String failure;
    private volatile @Nullable Disposable pull;
    /** The stream opened at arming and held by the source until release; see {@link #openHeldStream()}. */
    private final Sinks.One<PeerClient.FrameStreamResponse> heldStream = Sinks.one();
    private volatile @Nullable Disposable heldRequest;
    private volatile boolean heldRequestInFlight;
    private volatile boolean heldStreamAnswered;
    private @Nullable TapInjector injector;
    private final Consumer<DestinationSession> onCompleted;

    DestinationSession(String migrationId, TapLocation location, List<String> vmMacs, URI sourceAgent,
            PeerClient peers, ForwardingProperties properties, CaptureProperties captureProperties,
            Scheduler injectionScheduler, Consumer<DestinationSession> onCompleted) {
        this.onCompleted = onCompleted;
        this.migrationId = migrationId;
        this.location = location;
        this.sourceAgent = sourceAgent;
        this.peers = peers;
        this.properties = properties;
        this.injectionScheduler = injectionScheduler;
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
        peers.ping(sourceAgent).subscribe(null, error -> log.warn("{}: source agent {} not reachable yet: {}",
                migrationId, sourceAgent, error.getMessage()));
        openHeldStream();
    }

    /**
     * Opens the frame stream now, before the VM runs: the source answers it only once it releases, so at switchover
     * no request has to travel and be dispatched first (docs/performance.md). Retried while armed, since the source
     * side may be armed after this one or its agent restart meanwhile.
     */
    private void openHeldStream() {
        heldRequest = Mono.defer(() -> {
                    heldRequestInFlight = true;
                    return peers.frames(sourceAgent, migrationId, FrameStreamDecoder.NO_SEQUENCE, true);
                })
                .retryWhen(Retry.backoff(Long.MAX_VALUE, Duration.ofMillis(50))
                        .maxBackoff(Duration.ofSeconds(1))
                        .filter(error -> state == SessionState.ARMED && !pulling.get())
                        .doBeforeRetry(signal -> {
                            heldRequestInFlight = false;
                            log.debug("{}: held frame stream failed ({}); opening it again", migrationId,
                                    signal.failure().getMessage());
                        }))
                .subscribe(response -> {
                    heldStreamAnswered = true;
                    heldStream.tryEmitValue(response);
                }, error -> {
                    heldRequestInFlight = false;
                    heldStream.tryEmitError(error);
                });
    }

    /**
     * The stream opened at arming, for the first pull: the source is told to release it unless it has already
     * answered. Null if that stream is not open (the request failed and waits to be retried), so that the pull
     * opens a stream of its own.
     */
    private @Nullable Mono<PeerClient.FrameStreamResponse> takeHeldStream() {
        Disposable request = heldRequest;
        heldRequest = null;
        if (request == null) {
            return null;
        }
        if (!heldRequestInFlight) {
            request.dispose();
            return null;
        }
        if (!heldStreamAnswered) {
            // Usually the source has released already, on the VM's announcement flooded back to it, and its answer
            // is on the way: a request sent at once would compete with that answer for this agent's event loop.
            Mono.delay(properties.releaseRequestDelay())
                    .filter(tick -> !heldStreamAnswered)
                    .flatMap(tick -> peers.release(sourceAgent, migrationId)).subscribe(null, error -> log.warn(
                    "{}: asking the source agent to release failed: {}", migrationId, error.getMessage()));
        }
        // A source that never answers is treated like a broken stream: the pull opens one of its own.
        return heldStream.asMono().timeout(properties.streamIdleTimeout()).doOnError(error -> request.dispose());
    }

    /** Cancels the stream opened at arming if no pull took it, releasing a body already received. */
    private void closeHeldStream() {
        Disposable request = heldRequest;
        heldRequest = null;
        if (request != null) {
            request.dispose();
            heldStream.asMono().subscribe(response -> response.body().subscribe(DataBufferUtils::release,
                    error -> { }).dispose(), error -> { });
        }
    }

    private void vmRunning(long nanos) {
        vmRunningNanos = nanos;
        vmRunningAt = Instant.now();
        // Logged after the pull started: a synchronous log line costs a few hundred µs.
        startPulling();
        log.info("{}: destination VM runs on {}", migrationId, location);
    }

    /** Pulls now, for orchestrators that report the destination running before its first frame is seen. */
    void destinationResumed() {
        if (vmRunningNanos == 0) {
            vmRunning(System.nanoTime());
        }
    }

    private void startPulling() {
        if (state != SessionState.ARMED || !pulling.compareAndSet(false, true)) {
            return;
        }
        state = SessionState.FORWARDING;
        pull = Flux.defer(this::pullOnce)
                .retryWhen(Retry.backoff(Long.MAX_VALUE, Duration.ofMillis(5))
                        .maxBackoff(Duration.ofMillis(200))
                        .filter(error -> state == SessionState.FORWARDING
                                && System.nanoTime() - vmRunningNanos < properties.reconnectWindow().toNanos())
                        .doBeforeRetry(signal -> {
                            reconnects.incrementAndGet();
                            log.info("{}: frame stream broke ({}); resuming after {}", migrationId,
                                    signal.failure().getMessage(), lastInjected);
                        }))
                .subscribe(null, this::pullFailed, this::pullCompleted);
    }

    /** One request: frames after the last injected one, decoded and injected chunk by chunk. */
    private Flux<Void> pullOnce() {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        if (pullStartedNanos == 0) {
            pullStartedNanos = System.nanoTime();
        }
        Mono<PeerClient.FrameStreamResponse> held = takeHeldStream();
        Mono<PeerClient.FrameStreamResponse> request = held != null ? held
                : peers.frames(sourceAgent, migrationId, lastInjected);
        return request
                .flatMapMany(response -> {
                    if (responseNanos == 0) {
                        responseNanos = System.nanoTime();
                    }
                    if (response.releaseSequence() >= 0) {
                        releaseSequence = response.releaseSequence();
                    }
                    // A stream that stops delivering without breaking (an unflushed WINDOW_UPDATE, which PeerClient now
                    // flushes: docs/frame-stream.md) is treated as broken: the pull resumes after the last injected
                    // frame.
                    return response.body().timeout(properties.streamIdleTimeout()).doOnNext(chunk -> {
                        if (firstChunkNanos == 0) {
                            firstChunkNanos = System.nanoTime();
                        }
                    });
                })
                .publishOn(injectionScheduler, 4)
                .concatMap(chunk -> {
                    inject(decoder.decode(chunk));
                    return Mono.<Void>empty();
                })
                .doOnDiscard(DataBuffer.class, DataBufferUtils::release)
                .concatWith(Mono.defer(() -> {
                    decoder.finish();
                    return decoder.ended() ? Mono.empty()
                            : Mono.error(new IllegalStateException("stream ended without END record"));
                }));
    }

    private synchronized void inject(List<ForwardedFrame> frames) {
        if (firstDecodeNanos == 0) {
            firstDecodeNanos = System.nanoTime();
        }
        TapInjector target = injector;
        if (target == null || frames.isEmpty()) {
            return;
        }
        long burstEnd = releaseSequence;
        boolean burstDone = false;
        for (ForwardedFrame frame : frames) {
            if (frame.sequence() <= lastInjected) {
                continue;
            }
            MemorySegment bytes = MemorySegment.ofArray(frame.frame());
            if (watch.sentByVm(bytes)) {
                // The VM's own announcement or ARP, flooded back to the old tap after it moved: a VM must not
                // receive itself (IPv6 duplicate address detection would see a conflict).
                skippedSentByVm.incrementAndGet();
            } else if (watch.alreadyDelivered(bytes)) {
                skippedAlreadyDelivered.incrementAndGet();
            } else {
                target.inject(frame.sequence(), MemorySegment.ofArray(frame.vnetHeader()), bytes);
            }
            lastInjected = frame.sequence();
            burstDone |= burstEnd >= 0 && frame.sequence() >= burstEnd;
        }
        target.flush();
        InjectionReport report = target.report();
        long now = System.nanoTime();
        if (firstInjectionNanos == 0 && report.injectedFrames() > 0) {
            firstInjectionNanos = now;
        }
        if (burstDone && burstInjectedNanos == 0) {
            burstInjectedNanos = now;
        }
        injectedFrames.set(report.injectedFrames());
        injectedBytes.set(report.injectedBytes());
        injectionFailures.set(report.failedFrames());
    }

    private void pullCompleted() {
        state = SessionState.COMPLETED;
        if (burstInjectedNanos == 0) {
            burstInjectedNanos = firstInjectionNanos;
        }
        log.info("{}: injected {} frames ({} failed, {} already delivered directly, {} sent by the VM itself)",
                migrationId, injectedFrames.get(), injectionFailures.get(), skippedAlreadyDelivered.get(),
                skippedSentByVm.get());
        onCompleted.accept(this);
        closeInjectorLater();
    }

    private void pullFailed(Throwable error) {
        if (state == SessionState.FORWARDING) {
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
        watch.close();
    }

    void abort(String reason) {
        if (!state.finished()) {
            state = SessionState.ABORTED;
            failure = reason;
        }
        closeHeldStream();
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

    /**
     * Where the release's time went, in nanoseconds from the VM seen running to: the first request started, its
     * response headers received, the first chunk of the body received (on the connection's event loop), the first
     * chunk decoded (on the injection thread); -1 for what has not happened.
     */
    public PullTimings pullTimings() {
        return new PullTimings(sinceVmRunning(pullStartedNanos), sinceVmRunning(responseNanos),
                sinceVmRunning(firstChunkNanos), sinceVmRunning(firstDecodeNanos));
    }

    /** See {@link #pullTimings()}. */
    public record PullTimings(long requestStarted, long responseReceived, long firstChunkReceived,
            long firstChunkDecoded) {
    }

    private long sinceVmRunning(long nanos) {
        return nanos == 0 || vmRunningNanos == 0 ? -1 : nanos - vmRunningNanos;
    }

    /** Nanoseconds from the VM seen running to the first injected frame; -1 if none yet. */
    public long releaseToFirstInjectionNanos() {
        return firstInjectionNanos == 0 ? -1 : firstInjectionNanos - vmRunningNanos;
    }

    /** Nanoseconds from the VM seen running to the last frame kept at release injected; -1 if not yet. */
    public long releaseToBurstInjectedNanos() {
        return burstInjectedNanos == 0 ? -1 : burstInjectedNanos - vmRunningNanos;
    }
}
