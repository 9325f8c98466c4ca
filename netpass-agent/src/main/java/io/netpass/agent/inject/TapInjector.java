package io.netpass.agent.inject;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;


import io.netpass.agent.capture.KeptFrame;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.linux.FrameBatch;
import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.NotATapException;

/**
 * Writes frames into a destination tap in the order given, each with its vnet header.
 *
 * <p>A tap silently drops what does not fit its ring, so the ring is grown for the burst. Grow it before the VM
 * runs: changing an up interface's queue length makes the kernel deactivate it for an RCU grace period
 * ({@code dev_qdisc_change_tx_queue_len}), dropping every frame sent to it meanwhile (≈ 50 ms measured here).
 * For the same reason the length is not shrunk back while the VM may run; {@link #restoreRingLength()} is for
 * migrations that never reached the destination.
 */
public final class TapInjector implements AutoCloseable {

    private static final int MAX_FRAME = 65_536 + 64;
    private static final int BATCH_FRAMES = 256;
    private static final long BATCH_BYTES = 4L * MAX_FRAME;
    private static final int REPORTED_FAILURES = 100;

    private final TapLocation location;
    private final NetworkLinks links;
    private final Link link;
    private final InjectionSocket socket;
    private final FrameBatch batch = new FrameBatch(BATCH_FRAMES, BATCH_BYTES);
    private final List<InjectionReport.InjectionFailure> failures = new ArrayList<>();
    private final int originalQueueLength;
    private int raisedQueueLength;
    private long injectedFrames;
    private long injectedBytes;
    private long failedFrames;

    private TapInjector(TapLocation location, NetworkLinks links, Link link, InjectionSocket socket) {
        this.location = location;
        this.links = links;
        this.link = link;
        this.socket = socket;
        this.originalQueueLength = link.txQueueLength();
        this.raisedQueueLength = originalQueueLength;
    }

    /** Opens injection into {@code location}, growing its ring so that {@code burstFrames} more fit. */
    public static TapInjector open(TapLocation location, int burstFrames) {
        NetworkNamespace namespace = location.namespacePath().map(NetworkNamespace::at).orElse(NetworkNamespace.agent());
        NetworkLinks links = NetworkLinks.open(namespace);
        try {
            Link link = links.byName(location.tap());
            if (!link.tap()) {
                throw new NotATapException(link, namespace);
            }
            InjectionSocket socket = InjectionSocket.open(namespace, link);
            TapInjector injector = new TapInjector(location, links, link, socket);
            injector.growRing(burstFrames);
            return injector;
        } catch (RuntimeException e) {
            links.close();
            throw e;
        }
    }

    /**
     * Grows the tap's ring so that {@code frames} more fit on top of its normal length.
     *
     * @return whether the length changed (and the tap briefly dropped frames, see the class comment)
     */
    public boolean growRing(int frames) {
        int wanted = originalQueueLength + frames;
        if (wanted <= raisedQueueLength) {
            return false;
        }
        links.setTxQueueLength(link.name(), wanted);
        raisedQueueLength = wanted;
        return true;
    }

    /** Gives the tap back its original ring length; only for when the VM cannot be running. */
    public void restoreRingLength() {
        if (raisedQueueLength != originalQueueLength) {
            links.setTxQueueLength(link.name(), originalQueueLength);
            raisedQueueLength = originalQueueLength;
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

    /** Sends what is queued and closes; the ring keeps its grown length. */
    @Override
    public void close() {
        try {
            flush();
        } finally {
            socket.close();
            links.close();
            batch.close();
        }
    }
}
