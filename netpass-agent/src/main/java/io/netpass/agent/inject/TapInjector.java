package io.netpass.agent.inject;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.agent.capture.KeptFrame;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.linux.FrameBatch;
import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.NotATapException;
import io.netpass.agent.linux.TapCounters;

/**
 * Writes frames into a destination tap in the order given, each with its vnet header.
 *
 * <p>A tap silently drops what does not fit its ring, so the ring is first grown by the burst size; it is shrunk
 * back on {@link #close()} only once the VM has read the burst, because shrinking a ring drops what is beyond the
 * new size.
 */
public final class TapInjector implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TapInjector.class);
    private static final int MAX_FRAME = 65_536 + 64;
    private static final int BATCH_FRAMES = 256;
    private static final long BATCH_BYTES = 4L * MAX_FRAME;
    private static final int REPORTED_FAILURES = 100;
    private static final long RESTORE_POLL_MILLIS = 5;

    private final TapLocation location;
    private final NetworkLinks links;
    private final Link link;
    private final InjectionSocket socket;
    private final FrameBatch batch = new FrameBatch(BATCH_FRAMES, BATCH_BYTES);
    private final Duration restoreTimeout;
    private final long readFramesAtOpen;
    private final long droppedFramesAtOpen;
    private final LongSupplier handedDirectly;
    private final long handedDirectlyAtOpen;
    private final List<InjectionReport.InjectionFailure> failures = new ArrayList<>();
    private final int originalQueueLength;
    private int raisedQueueLength;
    private long injectedFrames;
    private long injectedBytes;
    private long failedFrames;

    private TapInjector(TapLocation location, NetworkLinks links, Link link, InjectionSocket socket,
            Duration restoreTimeout, LongSupplier handedDirectly) {
        this.location = location;
        this.links = links;
        this.link = link;
        this.socket = socket;
        this.restoreTimeout = restoreTimeout;
        this.readFramesAtOpen = link.counters().readFrames();
        this.droppedFramesAtOpen = link.counters().droppedFrames();
        this.handedDirectly = handedDirectly;
        this.handedDirectlyAtOpen = handedDirectly.getAsLong();
        this.originalQueueLength = link.txQueueLength();
        this.raisedQueueLength = originalQueueLength;
    }

    /**
     * Opens injection into {@code location}, growing its ring by {@code burstFrames}.
     *
     * @param restoreTimeout how long {@link #close()} waits for the VM to read the burst before it leaves the ring
     *     grown rather than drop frames
     */
    public static TapInjector open(TapLocation location, int burstFrames, Duration restoreTimeout) {
        return open(location, burstFrames, restoreTimeout, () -> 0);
    }

    /**
     * Opens injection into a tap that also gets frames from the host directly; {@code handedDirectly} counts them
     * (a {@link io.netpass.agent.capture.TapWatch}), so that {@link #close()} waits until the VM has read those
     * queued with the burst too.
     */
    public static TapInjector open(TapLocation location, int burstFrames, Duration restoreTimeout,
            LongSupplier handedDirectly) {
        NetworkNamespace namespace = location.namespacePath().map(NetworkNamespace::at).orElse(NetworkNamespace.agent());
        NetworkLinks links = NetworkLinks.open(namespace);
        try {
            Link link = links.byName(location.tap());
            if (!link.tap()) {
                throw new NotATapException(link, namespace);
            }
            InjectionSocket socket = InjectionSocket.open(namespace, link);
            TapInjector injector = new TapInjector(location, links, link, socket, restoreTimeout, handedDirectly);
            injector.growRing(burstFrames);
            return injector;
        } catch (RuntimeException e) {
            links.close();
            throw e;
        }
    }

    /** Grows the tap's ring so that {@code frames} more fit on top of its normal length. */
    public void growRing(int frames) {
        int wanted = originalQueueLength + frames;
        if (wanted > raisedQueueLength) {
            links.setTxQueueLength(link.name(), wanted);
            raisedQueueLength = wanted;
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

    /** Sends every queued frame. */
    public void flush() {
        if (batch.isEmpty()) {
            return;
        }
        int frames = batch.size();
        long[] refused = {0};
        injectedBytes += socket.send(batch, (sequence, error) -> {
            refused[0]++;
            fail(sequence, error.getMessage());
        });
        injectedFrames += frames - refused[0];
        batch.clear();
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

    /** Restores the tap's ring length once the VM has read what was injected, then closes. */
    @Override
    public void close() {
        try {
            flush();
            if (raisedQueueLength != originalQueueLength) {
                restoreRing();
            }
        } finally {
            socket.close();
            links.close();
            batch.close();
        }
    }

    private void restoreRing() {
        long deadline = System.nanoTime() + restoreTimeout.toNanos();
        try {
            while (true) {
                Link now = links.byIndex(link.index());
                if (now.txQueueLength() != raisedQueueLength) {
                    return;
                }
                // Reads count the frames the host handed to the tap directly as well: only once the VM has read
                // (or the tap dropped) as many frames as reached the ring since opening is the burst out of it.
                TapCounters counters = now.counters();
                long gone = counters.readFrames() - readFramesAtOpen + counters.droppedFrames() - droppedFramesAtOpen;
                if (gone >= injectedFrames + handedDirectly.getAsLong() - handedDirectlyAtOpen) {
                    links.setTxQueueLength(link.name(), originalQueueLength);
                    return;
                }
                if (System.nanoTime() - deadline > 0) {
                    log.warn("{}: VM has not read the injected frames within {}; ring left at {} entries",
                            location, restoreTimeout, raisedQueueLength);
                    return;
                }
                Thread.sleep(RESTORE_POLL_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.warn("{}: could not restore the ring length: {}", location, e.getMessage());
        }
    }
}
