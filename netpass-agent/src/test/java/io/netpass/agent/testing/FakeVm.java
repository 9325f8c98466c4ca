package io.netpass.agent.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import org.jspecify.annotations.Nullable;

import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.TunDevice;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A VM stand-in: the user-space end of a tap, opened as QEMU opens it (12-byte vnet header, QEMU's offloads), with
 * a reader thread that records every frame it reads. {@link #pause()} stops reading as a stopped VM does, so frames
 * wait in the tap's ring; {@link #resume()} reads on.
 */
public final class FakeVm implements AutoCloseable {

    /** The vnet header size QEMU sets on a tap for modern virtio-net ({@code virtio_net_hdr_mrg_rxbuf}). */
    public static final int VNET_HEADER_SIZE = 12;

    private static final int READ_TIMEOUT_MILLIS = 10;
    private static final long AWAIT_SLICE_NANOS = 20_000_000;
    private static final Duration ACKNOWLEDGE_TIMEOUT = Duration.ofSeconds(5);
    // A GSO frame of up to 64 KiB of IP packet plus Ethernet and VLAN headers.
    private static final int READ_BUFFER = VNET_HEADER_SIZE + 0x10000 + Headers.ETHERNET + 4;
    private static final int RARP_LENGTH = 60;
    private static final int RARP_REVERSE_REQUEST = 3;

    /**
     * One frame as the VM read it.
     *
     * @param vnetHeader the {@value #VNET_HEADER_SIZE}-byte vnet header: the virtio_net_hdr, then two zero bytes
     *     ({@code num_buffers}, which a tap leaves to its reader)
     * @param frame the Ethernet frame
     * @param readNanos {@link System#nanoTime()} when the read returned it (comparable across processes on Linux,
     *     which read the same monotonic clock)
     */
    public record ReadFrame(byte[] vnetHeader, byte[] frame, long readNanos) {

        /** The virtio_net_hdr at the start of {@link #vnetHeader()}. */
        public VirtioNetHeader header() {
            return VirtioNetHeader.parse(vnetHeader, 0);
        }

        /** The frame's {@link SequencedTraffic} number, or -1. */
        public long sequence() {
            return SequencedTraffic.sequenceOf(frame, 0);
        }
    }

    private final TunDevice tap;
    private final EthernetAddress mac;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Condition framesArrived = lock.newCondition();
    /** The fewest frames a thread in {@link #awaitFrames} waits for; guarded by the lock. */
    private int framesAwaited = Integer.MAX_VALUE;
    private final List<ReadFrame> frames = new ArrayList<>();
    private final Thread reader;
    private boolean pauseRequested;
    private volatile long readGapNanos;
    private boolean parked;
    private boolean closing;
    private boolean readerDone;
    private @Nullable Throwable failure;

    private FakeVm(TunDevice tap, EthernetAddress mac) {
        this.tap = tap;
        this.mac = mac;
        this.reader = Thread.ofPlatform().daemon().name("fake-vm-" + tap.name()).unstarted(this::readUntilClosed);
    }

    /**
     * Opens tap {@code tapName} in {@code namespace} for a VM with address {@code mac} and starts reading. The tap is
     * left down and outside any bridge; {@link Host#startVm} plugs it in.
     */
    public static FakeVm start(NetworkNamespace namespace, String tapName, EthernetAddress mac) {
        FakeVm vm = new FakeVm(TunDevice.openTap(namespace, tapName, VNET_HEADER_SIZE, TunDevice.QEMU_OFFLOADS), mac);
        vm.reader.start();
        return vm;
    }

    public String tapName() {
        return tap.name();
    }

    public EthernetAddress mac() {
        return mac;
    }

    /** Stops reading. When this returns the reader has acknowledged, so no frame is read until {@link #resume()}. */
    public void pause() {
        lock.lock();
        try {
            pauseRequested = true;
            long deadline = System.nanoTime() + ACKNOWLEDGE_TIMEOUT.toNanos();
            while (!parked && !readerDone) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("reader of " + tap.name() + " did not acknowledge the pause");
                }
                changed.awaitNanos(left);
            }
            throwIfReaderFailed();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while pausing " + tap.name(), e);
        } finally {
            lock.unlock();
        }
    }

    /** Makes the VM read at most one frame per {@code gap}, like a guest behind on its RX ring; zero: at full speed. */
    public void readAtMostEvery(Duration gap) {
        readGapNanos = gap.toNanos();
    }

    /** Reads on. */
    public void resume() {
        lock.lock();
        try {
            pauseRequested = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Every frame read so far, in the order read. */
    public List<ReadFrame> readFrames() {
        lock.lock();
        try {
            throwIfReaderFailed();
            return List.copyOf(frames);
        } finally {
            lock.unlock();
        }
    }

    /** The {@link SequencedTraffic} numbers of the frames read so far, in the order read; other frames left out. */
    public List<Long> sequences() {
        return sequences(readFrames());
    }

    /** The {@link SequencedTraffic} numbers of {@code frames}, in order; other frames left out. */
    public static List<Long> sequences(List<ReadFrame> frames) {
        return frames.stream().mapToLong(ReadFrame::sequence).filter(sequence -> sequence >= 0).boxed().toList();
    }

    /**
     * Resumes a paused VM and returns what it reads until nothing new comes for {@code quiet}: the frames that
     * waited in its tap while it was paused (and any that arrive meanwhile).
     *
     * @throws AssertionError if it still reads after {@code timeout}
     */
    public List<ReadFrame> resumeAndReadBacklog(Duration quiet, Duration timeout) {
        int readBefore = readFrames().size();
        resume();
        awaitQuiet(quiet, timeout);
        List<ReadFrame> read = readFrames();
        return read.subList(readBefore, read.size());
    }

    /**
     * Waits until this VM has read nothing new for {@code quiet}.
     *
     * @throws AssertionError if it still reads after {@code timeout}
     */
    public void awaitQuiet(Duration quiet, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int count = -1;
        long changedAt = System.nanoTime();
        while (System.nanoTime() < deadline) {
            int now = readFrames().size();
            if (now != count) {
                count = now;
                changedAt = System.nanoTime();
            } else if (System.nanoTime() - changedAt > quiet.toNanos()) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for " + tap.name() + " to settle", e);
            }
        }
        throw new AssertionError(tap.name() + " still reading after " + timeout);
    }

    /**
     * Waits until at least {@code count} frames have been read or {@code timeout} has passed, and returns every frame
     * read so far; fewer than {@code count} if the time ran out.
     */
    public List<ReadFrame> awaitFrames(int count, Duration timeout) {
        lock.lock();
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (frames.size() < count && failure == null && !readerDone) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                framesAwaited = Math.min(framesAwaited, count);
                // In slices: a second waiter's reset below may cost this one its signal.
                framesArrived.awaitNanos(Math.min(left, AWAIT_SLICE_NANOS));
                framesAwaited = Integer.MAX_VALUE;
            }
            throwIfReaderFailed();
            return List.copyOf(frames);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for frames on " + tap.name(), e);
        } finally {
            lock.unlock();
        }
    }

    /** Sends QEMU's self-announce for this VM's address, as the destination QEMU does when the VM resumes. */
    public void announce() {
        announce(mac);
    }

    /** Sends QEMU's self-announce for {@code address}. */
    public void announce(EthernetAddress address) {
        send(announcement(address));
    }

    /**
     * The frame QEMU's {@code announce_self_create} builds: a broadcast RARP reverse request whose sender and target
     * hardware addresses are the VM's, padded to the 60-byte minimum.
     */
    public static byte[] announcement(EthernetAddress address) {
        byte[] frame = new byte[RARP_LENGTH];
        Headers.writeEthernet(frame, EthernetAddress.BROADCAST, address, Headers.ETHERTYPE_RARP);
        Headers.putShort(frame, 14, 1);
        Headers.putShort(frame, 16, Headers.ETHERTYPE_IPV4);
        frame[18] = 6;
        frame[19] = 4;
        Headers.putShort(frame, 20, RARP_REVERSE_REQUEST);
        address.writeTo(frame, 22);
        address.writeTo(frame, 32);
        return frame;
    }

    /** Sends {@code frame} from the VM, with an all-zero vnet header. */
    public void send(byte[] frame) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment segment = arena.allocate(VNET_HEADER_SIZE + frame.length);
            MemorySegment.copy(frame, 0, segment, JAVA_BYTE, VNET_HEADER_SIZE, frame.length);
            tap.write(segment);
        }
    }

    private void readUntilClosed() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(READ_BUFFER);
            MemorySegment header = buffer.asSlice(0, VNET_HEADER_SIZE);
            while (awaitReading()) {
                // Older kernels' taps skip, rather than zero, the two bytes after the virtio_net_hdr (6.18 zeroes
                // them); clearing them first keeps recorded headers comparable on every kernel.
                header.fill((byte) 0);
                int length = tap.read(buffer, READ_TIMEOUT_MILLIS);
                if (length > 0) {
                    record(buffer, length, System.nanoTime());
                    long gap = readGapNanos;
                    if (gap > 0) {
                        LockSupport.parkNanos(gap);
                    }
                }
            }
        } catch (Throwable t) {
            lock.lock();
            try {
                failure = t;
            } finally {
                lock.unlock();
            }
        } finally {
            lock.lock();
            try {
                readerDone = true;
                changed.signalAll();
                framesArrived.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Parks while paused, acknowledging the pause; false once closing. */
    private boolean awaitReading() throws InterruptedException {
        lock.lock();
        try {
            while (pauseRequested && !closing) {
                parked = true;
                changed.signalAll();
                changed.await();
            }
            parked = false;
            return !closing;
        } finally {
            lock.unlock();
        }
    }

    private void record(MemorySegment buffer, int length, long readNanos) {
        byte[] vnetHeader = buffer.asSlice(0, VNET_HEADER_SIZE).toArray(JAVA_BYTE);
        byte[] frame = buffer.asSlice(VNET_HEADER_SIZE, length - VNET_HEADER_SIZE).toArray(JAVA_BYTE);
        lock.lock();
        try {
            frames.add(new ReadFrame(vnetHeader, frame, readNanos));
            // Not for every frame: a burst of thousands would wake the waiting thread as often, on the CPUs the
            // agents under test need.
            if (frames.size() >= framesAwaited) {
                framesArrived.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    private void throwIfReaderFailed() {
        if (failure != null) {
            throw new IllegalStateException("reader of " + tap.name() + " failed", failure);
        }
    }

    /** Stops the reader and closes the tap; a tap nobody else holds disappears with it. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closing) {
                return;
            }
            closing = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            if (!reader.join(ACKNOWLEDGE_TIMEOUT)) {
                throw new IllegalStateException("reader of " + tap.name() + " did not stop");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while stopping " + tap.name(), e);
        } finally {
            if (!reader.isAlive()) {
                tap.close();
            }
        }
    }
}
