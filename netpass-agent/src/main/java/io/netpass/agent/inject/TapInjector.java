package io.netpass.agent.inject;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.agent.capture.KeptFrame;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.linux.FrameBatch;
import io.netpass.agent.linux.InjectionRing;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.NotATapException;
import io.netpass.agent.linux.TapCounters;

/**
 * Writes frames into a destination tap in the order given, each with its vnet header, through an
 * {@link InjectionRing} (a transmit ring the kernel sends from in one call per batch).
 *
 * <p>A tap silently drops what does not fit its ring, so frames are handed over only as the VM makes room: before
 * each batch the injector estimates what is queued (frames injected plus frames the host handed to the tap
 * directly, less what the VM read or the tap dropped) and waits until the batch fits below three quarters of the
 * ring. The ring is resized only before the VM runs ({@link #growRingBeforeTheVmRuns}), never while it does:
 * changing a tap's {@code txqueuelen} deactivates the device for an RCU grace period, and every frame the host sends
 * it meanwhile — the VM's new traffic right after switchover — is dropped.
 */
public final class TapInjector implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TapInjector.class);
    private static final int MAX_FRAME = 65_536 + 64;
    private static final int BATCH_FRAMES = 256;
    private static final long BATCH_BYTES = 4L * MAX_FRAME;
    private static final int REPORTED_FAILURES = 100;
    private static final long ROOM_POLL_NANOS = 200_000;

    private final TapLocation location;
    private final NetworkLinks links;
    private final Link link;
    private final InjectionRing ring;
    private final FrameBatch batch = new FrameBatch(BATCH_FRAMES, BATCH_BYTES);
    private final Duration stallTimeout;
    private final long readFramesAtOpen;
    private final long droppedFramesAtOpen;
    private final LongSupplier handedDirectly;
    private final long handedDirectlyAtOpen;
    private final int originalQueueLength;
    private int queueLength;
    private int queueLimit;
    private final List<InjectionReport.InjectionFailure> failures = new ArrayList<>();
    private long leftRingAtLastLook;
    private long injectedFrames;
    private long injectedBytes;
    private long failedFrames;
    private boolean stallReported;

    private TapInjector(TapLocation location, NetworkLinks links, Link link, InjectionRing ring,
            Duration stallTimeout, LongSupplier handedDirectly) {
        this.location = location;
        this.links = links;
        this.link = link;
        this.ring = ring;
        this.stallTimeout = stallTimeout;
        this.readFramesAtOpen = link.counters().readFrames();
        this.droppedFramesAtOpen = link.counters().droppedFrames();
        this.handedDirectly = handedDirectly;
        this.handedDirectlyAtOpen = handedDirectly.getAsLong();
        // A quarter of the ring stays free for the frames the host hands the tap before the watch has seen them.
        this.originalQueueLength = link.txQueueLength();
        this.queueLength = originalQueueLength;
        this.queueLimit = Math.max(1, queueLength * 3 / 4);
    }

    /** Opens injection into a tap that gets no frames from the host meanwhile. */
    public static TapInjector open(TapLocation location, Duration stallTimeout) {
        return open(location, stallTimeout, () -> 0);
    }

    /**
     * Opens injection into {@code location}, a tap that also gets frames from the host directly;
     * {@code handedDirectly} counts those (a {@link io.netpass.agent.capture.TapWatch}).
     *
     * @param stallTimeout how long a batch waits for the VM to make room before it is injected anyway (a VM that
     *     stopped reading would lose it either way)
     */
    public static TapInjector open(TapLocation location, Duration stallTimeout, LongSupplier handedDirectly) {
        NetworkNamespace namespace = location.namespacePath().map(NetworkNamespace::at).orElse(NetworkNamespace.agent());
        NetworkLinks links = NetworkLinks.open(namespace);
        try {
            Link link = links.byName(location.tap());
            if (!link.tap()) {
                throw new NotATapException(link, namespace);
            }
            InjectionRing ring = InjectionRing.open(namespace, link);
            return new TapInjector(location, links, link, ring, stallTimeout, handedDirectly);
        } catch (RuntimeException e) {
            links.close();
            throw e;
        }
    }

    /**
     * Grows the tap's ring by {@code frames}, so that a burst needs no pacing. Only while the VM cannot run yet:
     * the kernel deactivates the tap while it changes the length, dropping what the host sends it meanwhile.
     */
    public void growRingBeforeTheVmRuns(int frames) {
        int wanted = originalQueueLength + frames;
        if (wanted > queueLength) {
            links.setTxQueueLength(link.name(), wanted);
            queueLength = wanted;
            queueLimit = Math.max(1, queueLength * 3 / 4);
        }
    }

    /** Gives the tap its original ring length back; only for when the VM cannot be running (see above). */
    public void restoreRingLengthBeforeTheVmRuns() {
        if (queueLength != originalQueueLength) {
            links.setTxQueueLength(link.name(), originalQueueLength);
            queueLength = originalQueueLength;
            queueLimit = Math.max(1, queueLength * 3 / 4);
        }
    }

    /** Injects one kept frame; a refusal is recorded in the report, not thrown. */
    public void inject(KeptFrame frame) {
        inject(frame.sequence(), frame.vnetHeader(), frame.frame());
    }

    /**
     * Queues one frame given as its vnet header and Ethernet bytes; frames leave in batches, in order. Call
     * {@link #flush()} to send what is queued.
     */
    public void inject(long sequence, MemorySegment vnetHeader, MemorySegment frame) {
        if (frame.byteSize() > MAX_FRAME) {
            fail(sequence, "frame of " + frame.byteSize() + " bytes exceeds " + MAX_FRAME);
            return;
        }
        if (!batch.add(sequence, vnetHeader, frame)) {
            flush();
            batch.add(sequence, vnetHeader, frame);
        }
    }

    /** Sends every queued frame, once the tap's ring has room for them. */
    public void flush() {
        if (batch.isEmpty()) {
            return;
        }
        int frames = batch.size();
        awaitRoom(frames);
        long[] refused = {0};
        injectedBytes += ring.send(batch, stallTimeout.toNanos(), (sequence, error) -> {
            refused[0]++;
            fail(sequence, error.getMessage());
        });
        injectedFrames += frames - refused[0];
        batch.clear();
    }

    /** Waits until {@code frames} more fit in the tap's ring below the limit, or the stall timeout passes. */
    private void awaitRoom(int frames) {
        if (stallReported) {
            // The VM stopped reading once already: waiting for it again would only delay what it gets.
            return;
        }
        long deadline = System.nanoTime() + stallTimeout.toNanos();
        while (true) {
            long queued = injectedFrames + handedDirectly.getAsLong() - handedDirectlyAtOpen - leftRingAtLastLook;
            if (queued <= 0 || queued + frames <= queueLimit) {
                return;
            }
            TapCounters counters = links.byIndex(link.index()).counters();
            long leftRing = counters.readFrames() - readFramesAtOpen + counters.droppedFrames() - droppedFramesAtOpen;
            if (leftRing > leftRingAtLastLook) {
                leftRingAtLastLook = leftRing;
                continue;
            }
            if (System.nanoTime() - deadline > 0) {
                if (!stallReported) {
                    stallReported = true;
                    log.warn("{}: the VM has not read its tap for {}; injecting regardless", location, stallTimeout);
                }
                return;
            }
            LockSupport.parkNanos(ROOM_POLL_NANOS);
        }
    }

    private void fail(long sequence, String error) {
        failedFrames++;
        if (failures.size() < REPORTED_FAILURES) {
            failures.add(new InjectionReport.InjectionFailure(sequence, error));
        }
    }

    /** The counts so far; queued frames are sent first. */
    public InjectionReport report() {
        flush();
        return new InjectionReport(injectedFrames, injectedBytes, failedFrames, List.copyOf(failures));
    }

    /** Sends what is queued, then closes. */
    @Override
    public void close() {
        try {
            flush();
        } finally {
            ring.close();
            links.close();
            batch.close();
        }
    }
}
