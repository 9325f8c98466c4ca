package io.netpass.agent.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Sends frames out of one interface of a lab namespace (a client's {@code eth0}) through an
 * {@link InjectionSocket} on the normal transmit path, the way a host's own traffic leaves it.
 */
public final class FrameSender implements AutoCloseable {

    private static final int MAX_SEGMENT = VirtioNetHeader.SIZE + 0x10000 + Headers.ETHERNET;

    private final InjectionSocket socket;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment segment = arena.allocate(MAX_SEGMENT);

    private FrameSender(InjectionSocket socket) {
        this.socket = socket;
    }

    /** A sender on interface {@code interfaceName} of {@code namespace}. */
    public static FrameSender open(NetworkNamespace namespace, String interfaceName) {
        try (NetworkLinks links = NetworkLinks.open(namespace)) {
            Link link = links.byName(interfaceName);
            return new FrameSender(InjectionSocket.open(namespace, link, false));
        }
    }

    /** Sends {@code frame} with an all-zero virtio_net_hdr: no offload asked for. */
    public void send(byte[] frame) {
        send(VirtioNetHeader.NONE, frame);
    }

    public synchronized void send(VirtioNetHeader header, byte[] frame) {
        MemorySegment.copy(header.toBytes(), 0, segment, JAVA_BYTE, 0, VirtioNetHeader.SIZE);
        MemorySegment.copy(frame, 0, segment, JAVA_BYTE, VirtioNetHeader.SIZE, frame.length);
        socket.send(segment, VirtioNetHeader.SIZE + frame.length);
    }

    /** Sends frames {@code first} to {@code first + count - 1} of {@code traffic} back to back; returns them. */
    public List<byte[]> send(SequencedTraffic traffic, long first, int count) {
        List<byte[]> frames = traffic.frames(first, count);
        frames.forEach(this::send);
        return frames;
    }

    /**
     * Sends frames {@code first} to {@code first + count - 1} of {@code traffic} at {@code framesPerSecond}, on a
     * fixed schedule so a slow send does not shift the ones after it; returns them.
     */
    public List<byte[]> sendAtRate(SequencedTraffic traffic, long first, int count, int framesPerSecond) {
        List<byte[]> frames = traffic.frames(first, count);
        long interval = TimeUnit.SECONDS.toNanos(1) / framesPerSecond;
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            long due = start + i * interval;
            for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                LockSupport.parkNanos(wait);
            }
            send(frames.get(i));
        }
        return frames;
    }

    @Override
    public synchronized void close() {
        socket.close();
        arena.close();
    }
}
