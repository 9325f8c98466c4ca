package io.netpass.agent.capture;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netpass.agent.linux.CaptureRing;
import io.netpass.agent.linux.CapturedFrame;
import io.netpass.agent.linux.InterfaceNotFoundException;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.NotATapException;
import io.netpass.agent.linux.ThreadPriority;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Watches the destination VM's tap without keeping frames. It tells the moment the VM runs — the first frame the VM
 * itself sends from one of its MACs (QEMU's self-announce RARP leaves 0.04–3 ms after resume), or the tap's read
 * counter moving — and remembers the broadcast and multicast frames the host handed to the tap directly, so that
 * their copies forwarded from the source can be skipped.
 */
public final class TapWatch implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TapWatch.class);
    private static final int REMEMBERED_GROUP_FRAMES = 65_536;
    private static final int MAC_LENGTH = 6;

    private final TapLocation location;
    private final NetworkLinks links;
    private final Link link;
    private final CaptureRing ring;
    private final Set<Long> vmMacs;
    private final LongConsumer onVmRunning;
    private final long[] groupFrameHashes = new long[REMEMBERED_GROUP_FRAMES];
    private final Set<Long> groupFrameHashSet = new HashSet<>();
    private final long readFramesAtStart;
    private final int pollMillis;
    private final Thread thread;
    private final AtomicLong vmRunningNanos = new AtomicLong(Long.MIN_VALUE);
    private int nextGroupSlot;
    private volatile long handedFrames;
    private volatile boolean stop;

    private TapWatch(TapLocation location, NetworkLinks links, Link link, CaptureRing ring, Set<Long> vmMacs,
            int pollMillis, LongConsumer onVmRunning) {
        this.location = location;
        this.links = links;
        this.link = link;
        this.ring = ring;
        this.vmMacs = vmMacs;
        this.pollMillis = pollMillis;
        this.onVmRunning = onVmRunning;
        this.readFramesAtStart = link.counters().readFrames();
        Arrays.fill(groupFrameHashes, 0L);
        this.thread = Thread.ofPlatform().name("watch-" + link.name()).daemon().unstarted(() -> {
            ThreadPriority.enterReleasePath();
            run();
        });
    }

    /**
     * Starts watching {@code location}; {@code onVmRunning} is called once, from the watch thread, with the
     * {@link System#nanoTime()} at which the VM was first seen running.
     */
    public static TapWatch start(TapLocation location, List<String> vmMacs, CaptureProperties properties,
            LongConsumer onVmRunning) {
        NetworkNamespace namespace = location.namespacePath().map(NetworkNamespace::at).orElse(NetworkNamespace.agent());
        NetworkLinks links = NetworkLinks.open(namespace);
        try {
            Link link = links.byName(location.tap());
            if (!link.tap()) {
                throw new NotATapException(link, namespace);
            }
            CaptureRing ring = CaptureRing.open(namespace, link, (int) properties.ringBlockSize().toBytes(),
                    properties.ringBlocks(), (int) Math.max(1, properties.ringBlockTimeout().toMillis()));
            Set<Long> macs = new HashSet<>();
            vmMacs.forEach(mac -> macs.add(MacAddress.parse(mac)));
            TapWatch watch = new TapWatch(location, links, link, ring, Set.copyOf(macs),
                    (int) Math.max(1, properties.counterInterval().toMillis()), onVmRunning);
            watch.thread.start();
            return watch;
        } catch (RuntimeException e) {
            links.close();
            throw e;
        }
    }

    private void run() {
        try {
            while (!stop) {
                ring.poll(pollMillis, this::onFrame);
                if (vmRunningNanos.get() == Long.MIN_VALUE) {
                    try {
                        // QEMU reads one frame while its VM is still stopped and holds it; only a second read shows
                        // that the VM takes frames.
                        if (links.byIndex(link.index()).counters().readFrames() - readFramesAtStart >= 2) {
                            vmRunning(System.nanoTime());
                        }
                    } catch (InterfaceNotFoundException e) {
                        log.warn("{}: destination tap disappeared while watched", location);
                        return;
                    }
                }
                if (ring.interfaceGone()) {
                    return;
                }
            }
        } catch (RuntimeException e) {
            log.error("watch of {} failed", location, e);
        } finally {
            ring.close();
            links.close();
        }
    }

    private void onFrame(CapturedFrame frame) {
        if (frame.frameLength() < 2 * MAC_LENGTH) {
            return;
        }
        if (frame.outgoing()) {
            // Only the watch thread writes it.
            handedFrames++;
            if ((frame.frameByte(0) & 1) != 0) {
                remember(hash(frame.frame()));
            }
        } else if (vmRunningNanos.get() == Long.MIN_VALUE && vmMacs.contains(MacAddress.read(frame.frame(), MAC_LENGTH))) {
            vmRunning(System.nanoTime());
        }
    }

    private void vmRunning(long nanos) {
        if (vmRunningNanos.compareAndSet(Long.MIN_VALUE, nanos)) {
            onVmRunning.accept(nanos);
        }
    }

    private synchronized void remember(long hash) {
        long evicted = groupFrameHashes[nextGroupSlot];
        if (evicted != 0) {
            groupFrameHashSet.remove(evicted);
        }
        groupFrameHashes[nextGroupSlot] = hash;
        groupFrameHashSet.add(hash);
        nextGroupSlot = (nextGroupSlot + 1) % REMEMBERED_GROUP_FRAMES;
    }

    /**
     * Whether {@code frame} is a broadcast or multicast frame the host already handed to this tap directly. Answers
     * for what the watch has seen so far: the caller asks after waiting one ring block timeout.
     */
    public synchronized boolean alreadyDelivered(MemorySegment frame) {
        if (frame.byteSize() < MAC_LENGTH || (frame.get(JAVA_BYTE, 0) & 1) == 0) {
            return false;
        }
        long hash = hash(frame);
        if (groupFrameHashSet.remove(hash)) {
            // One forwarded copy matches one direct copy; a second identical frame is a frame of its own.
            return true;
        }
        return false;
    }

    /**
     * Frames the host has handed to the tap directly (not injected: injection bypasses packet sockets) since the
     * watch started, as far as the watch has seen them, about a block timeout late.
     */
    public long handedFrames() {
        return handedFrames;
    }

    /** Whether {@code frame} was sent by the VM itself: its source address is one of the VM's. */
    public boolean sentByVm(MemorySegment frame) {
        return frame.byteSize() >= 2 * MAC_LENGTH && vmMacs.contains(MacAddress.read(frame, MAC_LENGTH));
    }

    /** The {@link System#nanoTime()} at which the VM was seen running, if it was. */
    public boolean vmRunning() {
        return vmRunningNanos.get() != Long.MIN_VALUE;
    }

    private static long hash(MemorySegment frame) {
        long hash = 0xcbf29ce484222325L ^ frame.byteSize();
        for (long i = 0; i < frame.byteSize(); i++) {
            hash = (hash ^ (frame.get(JAVA_BYTE, i) & 0xff)) * 0x100000001b3L;
        }
        return hash == 0 ? 1 : hash;
    }

    @Override
    public void close() {
        stop = true;
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
