package io.netpass.agent.capture;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import org.jspecify.annotations.Nullable;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.agent.linux.CaptureRing;
import io.netpass.agent.linux.CapturedFrame;
import io.netpass.agent.linux.FrameFromSocket;
import io.netpass.agent.linux.InterfaceNotFoundException;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.TapCounters;

/**
 * Captures one armed tap and keeps exactly the frames its VM has not read.
 *
 * <p>Every frame handed to the tap is captured (AF_PACKET sees it before the tap queues or drops it) and appended
 * in order. The tap's ring is a FIFO and its {@code tx_packets} counts frames as the VM reads them, so after
 * {@code n} reads since arming the VM has read exactly the first {@code n} queued frames; frames the tap dropped are
 * told apart by {@code tx_dropped}. See docs/reconciliation.md for the argument and its limits.
 *
 * <p>Two platform threads per session: one drains the capture ring and reconciles, the other samples the tap's
 * counters. They are apart because an rtnetlink read waits for the kernel's RTNL lock, which a busy host (namespaces,
 * taps, routes coming and going) can hold for hundreds of milliseconds; the capture ring must go on being drained
 * meanwhile or the kernel drops frames. Callers read status and take frames under the session's lock.
 */
public final class CaptureSession implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CaptureSession.class);
    private static final long TIMER_SLACK_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    private static final int FRAME_FROM_POLL_MILLIS = 100;
    /** For {@link #readKeptAfter}: frames captured at any time. */
    public static final long ANY_CAPTURE_TIME = KeptFrames.NO_AGE_LIMIT;

    /**
     * The tap's counters as read between {@code startedNanos} and {@code nanos}: they count what happened before
     * {@code startedNanos} and may count what happened up to {@code nanos}, since reading them over rtnetlink
     * takes time (milliseconds on a loaded host).
     */
    private record CounterSample(long startedNanos, long nanos, TapCounters counters) {
    }

    private final TapLocation location;
    private final NetworkNamespace namespace;
    private final Link link;
    private final NetworkLinks links;
    private final int ifindex;
    private final CaptureProperties properties;
    private final Runnable onClose;
    private final CaptureRing ring;
    private final KeptFrames kept;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition reconciled = lock.newCondition();
    private final ConcurrentLinkedQueue<CounterSample> pendingSamples = new ConcurrentLinkedQueue<>();
    private final EnumMap<DropReason, Long> drops = new EnumMap<>(DropReason.class);
    private final CompletableFuture<Void> armed = new CompletableFuture<>();
    private final Thread thread;
    private final Thread sampler;
    private final long realtimeToNanoTime;
    private final long settleNanos;

    private TapCounters baseline = new TapCounters(0, 0, 0);
    private boolean counting;
    private boolean exactSinceArm = true;
    private long nextSequence;
    private long capturedFrames;
    private long capturedBytes;
    private long lastFrameNanos = Long.MIN_VALUE;
    private long readReleased;
    private long tapDropsAttributed;
    private long tapDropsSuperseded;
    private long tapDropsTaken;
    private volatile boolean tapGone;
    private volatile boolean stopRequested;
    private volatile boolean samplerStopping;
    private volatile @Nullable RuntimeException samplerFailure;
    private volatile boolean closed;
    private volatile @Nullable FrameFromWatch frameFromWatch;
    /** {@link System#nanoTime()} at which the newest counter sample whose reads are all matched was started. */
    private long readsCountedAt;
    private long wakeups;

    /** An action to run once for a frame handed to the tap from one of some addresses. */
    private record FrameFromWatch(Set<Long> sourceMacs, Runnable action, AtomicBoolean ran) {

        void runOnce() {
            if (ran.compareAndSet(false, true)) {
                action.run();
            }
        }
    }

    private CaptureSession(TapLocation location, NetworkNamespace namespace, NetworkLinks links, Link link,
            CaptureProperties properties, Runnable onClose) {
        this.location = location;
        this.namespace = namespace;
        this.link = link;
        this.links = links;
        this.ifindex = link.index();
        this.properties = properties;
        this.onClose = onClose;
        long capacity = properties.bufferCapacity().toBytes();
        this.kept = new KeptFrames(capacity, Math.min(capacity / 4, KeptFrames.RUN_ENTRY * 1024L));
        try {
            this.ring = CaptureRing.open(namespace, link, (int) properties.ringBlockSize().toBytes(),
                    properties.ringBlocks(), (int) Math.max(1, properties.ringBlockTimeout().toMillis()));
        } catch (RuntimeException e) {
            kept.close();
            throw e;
        }
        Instant now = Instant.now();
        this.realtimeToNanoTime = now.getEpochSecond() * 1_000_000_000L + now.getNano() - System.nanoTime();
        this.settleNanos = properties.ringBlockTimeout().toNanos() + TIMER_SLACK_NANOS;
        this.thread = Thread.ofPlatform().name("capture-" + link.name()).daemon().unstarted(this::run);
        this.sampler = Thread.ofPlatform().name("counters-" + link.name()).daemon().unstarted(this::sampleUntilStopped);
    }

    static CaptureSession start(TapLocation location, NetworkNamespace namespace, NetworkLinks links, Link link,
            CaptureProperties properties, Runnable onClose) {
        CaptureSession session = new CaptureSession(location, namespace, links, link, properties, onClose);
        session.thread.start();
        return session;
    }

    void awaitArmed() {
        try {
            armed.get(properties.armSettleTimeout().toMillis() + 10_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException runtime ? runtime : new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("arming " + location + " did not finish", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while arming " + location, e);
        }
    }

    public TapLocation location() {
        return location;
    }

    private void run() {
        try {
            settle();
            sampler.start();
            int pollMillis = (int) Math.max(1, properties.counterInterval().toMillis());
            while (!stopRequested && !tapGone) {
                ring.await(pollMillis);
                if (drainAndReconcile(false) > 0) {
                    // New frames: a sample now lets read frames go as soon as the VM has read them.
                    LockSupport.unpark(sampler);
                }
                throwIfSamplerFailed();
                if (ring.interfaceGone()) {
                    tapGone = true;
                }
            }
            finish();
        } catch (RuntimeException | Error e) {
            log.error("capture of {} failed", location, e);
            armed.completeExceptionally(e);
            tapGone = true;
        } finally {
            stopSampler();
            ring.close();
            links.close();
        }
    }

    /**
     * The sampler thread: a counter sample every counter interval, and at once when the capture thread has drained
     * new frames; one last sample when asked to stop, which {@link #finish()} reconciles.
     */
    private void sampleUntilStopped() {
        try {
            long interval = properties.counterInterval().toNanos();
            while (!samplerStopping && !tapGone) {
                sampleCounters();
                LockSupport.parkNanos(this, interval);
            }
            if (!tapGone) {
                sampleCounters();
            }
        } catch (RuntimeException e) {
            samplerFailure = e;
        }
    }

    private void stopSampler() {
        samplerStopping = true;
        LockSupport.unpark(sampler);
        try {
            sampler.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void throwIfSamplerFailed() {
        RuntimeException failure = samplerFailure;
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Starts counting at the moment of the settle window when the tap's ring was emptiest. For each counter sample,
     * (frames read + frames dropped) − (frames captured up to it) is the ring's backlog from before the capture began
     * minus what is queued at that sample: it is largest where the queue was empty. Counting from there, "read since
     * arm" counts only captured frames. A running VM empties its ring many times in the window, so the largest value
     * comes back across it (at samples at least a fifth of the window apart). A VM that is behind on its tap (a
     * backlog that only grows while the window lasts) shows its largest value only at the start: then the window is
     * extended, up to the settle timeout, until the VM catches up and the value comes back; if it never does, the
     * session reports itself inexact (docs/reconciliation.md).
     */
    private void settle() {
        long started = System.nanoTime();
        long giveUp = started + properties.armSettleTimeout().toNanos();
        long windowEnd = started + properties.armSettleWindow().toNanos();
        List<CounterSample> samples = new ArrayList<>();
        EmptiestSample start;
        while (true) {
            do {
                samples.add(readCounters());
                ring.await(1);
                drainAndReconcile(false);
            } while (System.nanoTime() - windowEnd < 0);
            long lastRead = samples.getLast().nanos();
            while (System.nanoTime() - lastRead < settleNanos) {
                ring.await(1);
                drainAndReconcile(false);
            }
            start = emptiest(samples);
            if (start.settled() || System.nanoTime() - giveUp >= 0) {
                break;
            }
            windowEnd = Math.min(System.nanoTime() + properties.armSettleWindow().toNanos(), giveUp);
        }
        lock.lock();
        try {
            kept.discardCapturedThrough(start.sample().nanos(), nextSequence);
            capturedFrames = countFramesAfter();
            baseline = start.sample().counters();
            counting = true;
            exactSinceArm = start.settled();
        } finally {
            lock.unlock();
        }
        long tookMillis = (System.nanoTime() - started) / 1_000_000;
        if (!start.settled()) {
            log.warn("{}: the tap's ring was not seen empty across {} ms; counting may be off by what was queued",
                    location, tookMillis);
        } else if (tookMillis > properties.armSettleWindow().toMillis() * 2) {
            log.info("{}: the VM caught up with its tap after {} ms; counting starts there", location, tookMillis);
        }
        armed.complete(null);
    }

    /** The last sample at which the tap's ring was emptiest, and whether that value came back across the window. */
    private record EmptiestSample(CounterSample sample, boolean settled) {
    }

    private EmptiestSample emptiest(List<CounterSample> samples) {
        long[] captureTimes = captureTimes();
        TapCounters first = samples.getFirst().counters();
        int best = 0;
        int firstBest = 0;
        long bestValue = Long.MIN_VALUE;
        for (int i = 0; i < samples.size(); i++) {
            CounterSample sample = samples.get(i);
            // Frames captured up to the end of the read: one the VM read meanwhile must not look like backlog.
            long value = sample.counters().readFrames() - first.readFrames()
                    + sample.counters().droppedFrames() - first.droppedFrames()
                    - capturedThrough(captureTimes, sample.nanos());
            if (value > bestValue) {
                best = i;
                firstBest = i;
                bestValue = value;
            } else if (value == bestValue) {
                best = i;
            }
        }
        // Two equal samples a millisecond apart prove little (the VM and the traffic may both have stalled); a
        // ring the VM keeps emptying shows its largest value again and again across the window.
        long spread = samples.get(best).nanos() - samples.get(firstBest).nanos();
        return new EmptiestSample(samples.get(best), spread >= properties.armSettleWindow().toNanos() / 5);
    }

    private long[] captureTimes() {
        lock.lock();
        try {
            long[] times = new long[(int) kept.frames()];
            int[] count = {0};
            kept.forEach(frame -> times[count[0]++] = frame.capturedNanos());
            long[] sorted = Arrays.copyOf(times, count[0]);
            Arrays.sort(sorted);
            return sorted;
        } finally {
            lock.unlock();
        }
    }

    /** Frames in {@code sortedTimes} captured at or before {@code nanos}. */
    private static long capturedThrough(long[] sortedTimes, long nanos) {
        int low = 0;
        int high = sortedTimes.length;
        while (low < high) {
            int middle = (low + high) >>> 1;
            if (sortedTimes[middle] - nanos <= 0) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low;
    }

    /** Frames already captured after the counting start; they are the first of the session. */
    private long countFramesAfter() {
        long[] frames = {0};
        long[] bytes = {0};
        kept.forEach(frame -> {
            frames[0]++;
            bytes[0] += frame.frame().byteSize();
        });
        capturedBytes = bytes[0];
        return frames[0];
    }

    private void sampleCounters() {
        try {
            pendingSamples.add(readCounters());
        } catch (InterfaceNotFoundException e) {
            tapGone = true;
        }
    }

    private CounterSample readCounters() {
        long started = System.nanoTime();
        TapCounters counters = links.byIndex(ifindex).counters();
        return new CounterSample(started, System.nanoTime(), counters);
    }

    /** Returns the number of frames drained. */
    private int drainAndReconcile(boolean finalPass) {
        lock.lock();
        try {
            int drained = ring.drain(this::onFrame);
            long now = System.nanoTime();
            while (!pendingSamples.isEmpty()) {
                CounterSample sample = pendingSamples.peek();
                // Frames captured before the sample may still sit in a block the kernel has not handed over yet.
                boolean allCapturedSeen = lastFrameNanos - sample.startedNanos() > 0
                        || now - sample.startedNanos() >= settleNanos;
                if (!finalPass && !allCapturedSeen) {
                    break;
                }
                pendingSamples.poll();
                if (counting) {
                    reconcile(sample);
                    if (sample.counters().readFrames() - baseline.readFrames() <= readReleased) {
                        readsCountedAt = Math.max(readsCountedAt, sample.startedNanos());
                    }
                    reconciled.signalAll();
                }
            }
            long ringDrops = ring.statistics().drops();
            if (ringDrops > drops.getOrDefault(DropReason.CAPTURE_RING_FULL, 0L)) {
                log.warn("{}: the capture ring overflowed ({} frames so far); counting is no longer exact", location,
                        ringDrops);
                drops.put(DropReason.CAPTURE_RING_FULL, ringDrops);
                exactSinceArm = false;
            }
            return drained;
        } finally {
            lock.unlock();
        }
    }

    private void onFrame(CapturedFrame frame) {
        if (!frame.outgoing()) {
            return;
        }
        long capturedNanos = frame.kernelTimeNanos() - realtimeToNanoTime;
        lastFrameNanos = capturedNanos;
        FrameFromWatch watch = frameFromWatch;
        if (watch != null && frame.frameLength() >= 12
                && watch.sourceMacs().contains(MacAddress.read(frame.frame(), 6))) {
            frameFromWatch = null;
            watch.runOnce();
        }
        switch (kept.append(nextSequence++, capturedNanos, frame)) {
            case STORED -> { }
            case COUNTED -> { }
            case REFUSED -> {
                count(DropReason.UNCOUNTED);
                exactSinceArm = false;
            }
        }
        if (counting) {
            capturedFrames++;
            capturedBytes += frame.frameLength();
        }
    }

    private void reconcile(CounterSample sample) {
        long newTapDrops = sample.counters().droppedFrames() - baseline.droppedFrames() - tapDropsAttributed;
        // Only frames captured before the read began are sure to have their fate in these counts.
        long unplaced = kept.classify(sample.startedNanos(), newTapDrops);
        tapDropsAttributed += newTapDrops - unplaced;
        long readsToRelease = sample.counters().readFrames() - baseline.readFrames() - readReleased;
        if (readsToRelease > 0) {
            KeptFrames.ReleaseOutcome outcome = new KeptFrames.ReleaseOutcome();
            kept.release(readsToRelease, outcome);
            readReleased += outcome.read;
            tapDropsSuperseded += outcome.supersededTapDrops;
            if (outcome.supersededTapDrops > 0) {
                drops.merge(DropReason.TAP_OVERFLOW_WHILE_RUNNING, outcome.supersededTapDrops, Long::sum);
            }
        }
    }

    private void count(DropReason reason) {
        drops.merge(reason, 1L, Long::sum);
    }

    /** The last reconciliation: once the capture stops, the kept frames are exactly the unread ones. */
    private void finish() {
        samplerStopping = true;
        LockSupport.unpark(sampler);
        // The sampler takes the last sample now; the ring is drained while that read waits for the RTNL lock.
        while (sampler.isAlive()) {
            ring.await(1);
            drainAndReconcile(false);
        }
        throwIfSamplerFailed();
        long until = System.nanoTime() + settleNanos;
        while (System.nanoTime() - until < 0) {
            ring.await(1);
            drainAndReconcile(false);
        }
        // Sampled only now: a frame already captured may still be on its way through the tap's transmit path on
        // another CPU, and its drop must be in the last count.
        if (!tapGone) {
            sampleCounters();
        }
        drainAndReconcile(true);
    }

    /**
     * Stops capturing after a last reconciliation; the kept frames stay until taken or until {@link #close()}.
     * Call it once the VM can no longer read (paused, or its tap gone).
     */
    public void stopCapture() {
        stopRequested = true;
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Runs {@code action} once, when a frame whose source address is one of {@code sourceMacs} is handed to the tap
     * from now on: for a migration's source tap, the moved VM's own announcement flooded back to its old port. A
     * thread of its own waits for such a frame on a filtered packet socket, which wakes it at once; the capture
     * thread, which sees the frame up to a ring block timeout later, runs the action if that thread could not
     * (the socket failed to open). The action must not block for long (it may run on the capture thread).
     */
    public void whenFrameFrom(Set<Long> sourceMacs, Runnable action) {
        FrameFromWatch watch = new FrameFromWatch(Set.copyOf(sourceMacs), action, new AtomicBoolean());
        frameFromWatch = watch;
        FrameFromSocket socket;
        try {
            socket = FrameFromSocket.open(namespace, link, List.copyOf(sourceMacs));
        } catch (RuntimeException e) {
            log.warn("{}: cannot watch for the VM's frames on a socket of their own ({}); the capture sees them, up "
                    + "to a block timeout later", location, e.getMessage());
            return;
        }
        Thread.ofPlatform().name("frame-from-" + link.name()).daemon().start(() -> {
            try (socket) {
                while (!closed && !stopRequested && !watch.ran().get()) {
                    if (socket.awaitFrame(FRAME_FROM_POLL_MILLIS)) {
                        watch.runOnce();
                    }
                }
            } catch (RuntimeException e) {
                log.debug("{}: watching for the VM's frames ended: {}", location, e.getMessage());
            }
        });
    }

    /** Whether capture has ended, because it was stopped or the tap disappeared. */
    public boolean capturing() {
        return thread.isAlive();
    }

    /** The counts now. */
    public CaptureStatus status() {
        lock.lock();
        try {
            EnumMap<DropReason, Long> dropsNow = new EnumMap<>(drops);
            if (kept.unstoredFrames() > 0) {
                dropsNow.put(DropReason.BUFFER_FULL, kept.unstoredFrames());
            }
            return new CaptureStatus(location, capturedFrames, capturedBytes, readReleased, kept.frames(),
                    kept.frameBytes(), kept.usedBytes(), tapDropsAttributed - tapDropsSuperseded - tapDropsTaken,
                    Map.copyOf(dropsNow), tapGone, exactSinceArm);
        } finally {
            lock.unlock();
        }
    }

    /** Hands up to {@code max} of the oldest kept frames to {@code reader} and lets them go; returns how many. */
    public int takeKept(int max, KeptFrameReader reader) {
        lock.lock();
        try {
            if (closed) {
                return 0;
            }
            return (int) kept.take(max, frame -> {
                if (frame.droppedByTap()) {
                    tapDropsTaken++;
                }
                reader.read(frame);
            });
        } finally {
            lock.unlock();
        }
    }


    /**
     * Hands up to {@code max} kept frames numbered after {@code afterSequence}, covered by a counter sample and
     * captured at or before {@code capturedThroughNanos} ({@link System#nanoTime()}), to {@code reader}, oldest first,
     * keeping them until {@link #acknowledge}d; returns how many.
     */
    public int readKeptAfter(long afterSequence, int max, long capturedThroughNanos, KeptFrameReader reader) {
        lock.lock();
        try {
            return closed ? 0 : kept.readAfter(afterSequence, max, capturedThroughNanos, reader);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until every read the tap has counted so far has been matched to a kept frame, so that no frame the VM
     * has read is still among the kept ones. Returns at once when the capture has ended (its last reconciliation is
     * done) and otherwise within a counter interval or two.
     *
     * @return false if that did not happen within {@code timeout}
     */
    public boolean awaitReadsAccounted(java.time.Duration timeout) throws InterruptedException {
        long remaining = timeout.toNanos();
        long readsSinceArm;
        try {
            if (!thread.isAlive()) {
                return true;
            }
            readsSinceArm = readsSinceArmNow();
        } catch (InterfaceNotFoundException | IllegalStateException e) {
            // The tap is gone or the capture just ended: its final reconciliation covers every read.
            stopCapture();
            return true;
        }
        lock.lock();
        try {
            while (readReleased < readsSinceArm && thread.isAlive()) {
                if (remaining <= 0) {
                    return false;
                }
                remaining = reconciled.awaitNanos(remaining);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The frames the VM has read since counting started, by the tap's counter read now (one rtnetlink request). */
    private long readsSinceArmNow() {
        return links.byIndex(ifindex).counters().readFrames() - baseline.readFrames();
    }

    /**
     * The VM's reads as counted now, if every one of them is matched to a kept frame (else null: some are matched
     * only by a later reconciliation). Reads the tap's counters at once, on the calling thread, which may be the
     * capture thread itself.
     */
    public @Nullable ReadCount readCountNow() {
        lock.lock();
        try {
            if (closed || !counting || !thread.isAlive()) {
                return null;
            }
            long started = System.nanoTime();
            return readsSinceArmNow() <= readReleased ? new ReadCount(kept.readThrough(), started) : null;
        } catch (InterfaceNotFoundException | IllegalStateException e) {
            return null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Hands the last frame the VM read to {@code reader} if the oldest kept frame directly follows it: the frame a
     * QEMU reads after its VM stopped and then holds in its own queue (see {@link KeptFrames#readLastRead}).
     *
     * @return whether there was such a frame
     */
    public boolean readLastRead(KeptFrameReader reader) {
        lock.lock();
        try {
            return !closed && kept.readLastRead(reader);
        } finally {
            lock.unlock();
        }
    }

    /** Lets go of the kept frames numbered up to {@code sequence}: they reached the destination. */
    public void acknowledge(long sequence) {
        lock.lock();
        try {
            if (!closed) {
                kept.discardThrough(sequence);
            }
        } finally {
            lock.unlock();
        }
    }


    /**
     * The newest frame the VM has read (or read past: the tap dropped it while the VM ran on); -1 while none. Frames
     * up to it are not kept.
     */
    public long readThrough() {
        lock.lock();
        try {
            return kept.readThrough();
        } finally {
            lock.unlock();
        }
    }

    /** Wakes the threads waiting in {@link #awaitKeptAfterOrRead}: something else they wait for happened. */
    public void wake() {
        lock.lock();
        try {
            wakeups++;
            reconciled.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** How many times {@link #wake()} was called. */
    public long wakeups() {
        lock.lock();
        try {
            return wakeups;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The newest frame the VM has read, with the time of the newest counter sample that count accounts for: the VM
     * had read nothing more when that sample was taken.
     */
    public ReadCount readCount() {
        lock.lock();
        try {
            return new ReadCount(kept.readThrough(), readsCountedAt);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The VM's reads as counted now.
     *
     * @param readThrough the newest frame the VM has read (or read past), -1 while none
     * @param countedAtNanos the {@link System#nanoTime()} at which the counter sample it stems from was started
     */
    public record ReadCount(long readThrough, long countedAtNanos) {
    }

    /**
     * Waits up to {@code timeout} for a kept frame numbered after {@code afterSequence} that a counter sample has
     * covered, for the VM to have read past {@code readThrough}, or for a {@link #wake()} after the one that
     * {@code wakeupsSeen} counts (see {@link #wakeups()}).
     *
     * @return whether either happened
     */
    public boolean awaitKeptAfterOrRead(long afterSequence, long readThrough, long wakeupsSeen,
            java.time.Duration timeout) throws InterruptedException {
        long remaining = timeout.toNanos();
        lock.lock();
        try {
            while (!closed && kept.newestClassifiedSequence() <= afterSequence && kept.readThrough() <= readThrough
                    && wakeups == wakeupsSeen) {
                if (remaining <= 0 || !thread.isAlive()) {
                    return false;
                }
                remaining = reconciled.awaitNanos(remaining);
            }
            return !closed;
        } finally {
            lock.unlock();
        }
    }

    /** Hands every kept frame to {@code reader}, oldest first, keeping them. */
    public void forEachKept(KeptFrameReader reader) {
        lock.lock();
        try {
            if (!closed) {
                kept.forEach(reader);
            }
        } finally {
            lock.unlock();
        }
    }

    boolean closed() {
        return closed;
    }

    /** Stops capturing and frees the kept frames. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        stopCapture();
        lock.lock();
        try {
            closed = true;
            kept.close();
        } finally {
            lock.unlock();
        }
        onClose.run();
    }
}
