package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.BitSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;

import io.netpass.agent.linux.CaptureRing;
import io.netpass.agent.linux.InjectionSocket;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NativeCallException;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;

import org.jspecify.annotations.Nullable;

/**
 * Sends sequenced probes from the client namespace to the guest at a steady rate and records every reply, with the
 * kernel's capture timestamps, until {@link #stop()}; then {@link #outcome} counts what a migration did to them.
 *
 * <p>Replies are taken from a capture ring on the client's interface rather than from a socket: an ICMP echo reply
 * has no socket to land in (Java has no ICMP sockets), and an ICMP error on a UDP socket carries no payload to Java.
 * Both kinds of reply come from the guest's kernel, so no server runs in the guest.
 */
public final class MigrationProbe implements AutoCloseable {

    /** What a probe is and what answers it. */
    public enum Kind {
        /** ICMP echo requests, written as raw frames; the guest's kernel answers each with an echo reply. */
        ICMP_ECHO,
        /**
         * UDP datagrams to a closed port, sent from a plain Java socket; the guest's kernel answers each with an ICMP
         * port unreachable that quotes the datagram.
         */
        UDP_PORT_UNREACHABLE
    }

    /** Probes per second unless told otherwise. */
    public static final int DEFAULT_RATE = 1_000;

    /** How long replies are still collected after the last probe. */
    private static final Duration REPLY_GRACE = Duration.ofMillis(300);
    /**
     * Probes sent this long after the destination resumed must get some reply, or the destination guest is broken.
     * Longer than the time a learning bridge needs to follow QEMU's first self-announcement (well under 10 ms).
     */
    private static final Duration SETTLE_AFTER_RESUME = Duration.ofMillis(500);
    // At low rates the kernel hands over one block per timeout however few replies it holds, so the block count, not
    // the size, decides how long a stalled receiver (two TCG QEMUs share the cores) may sleep: 256 × 2 ms.
    private static final int RING_BLOCK_SIZE = 128 << 10;
    private static final int RING_BLOCKS = 256;
    private static final int RING_BLOCK_TIMEOUT_MILLIS = 2;
    private static final int POLL_MILLIS = 20;

    private final Kind kind;
    private final int probesPerSecond;
    private final ProbeTarget target;
    private final ProbePackets packets;
    private final CaptureRing ring;
    private final @Nullable InjectionSocket injection;
    private final @Nullable DatagramChannel channel;
    private final Samples sendTimes = new Samples();
    private final Samples replySequences = new Samples();
    private final Samples replyTimes = new Samples();
    private final Thread sender;
    private final Thread receiver;
    private volatile boolean sending = true;
    private volatile boolean receiving = true;
    private volatile long sent;
    private volatile long replies;
    private volatile long sendFailures;
    private volatile @Nullable Throwable failure;
    private boolean stopped;

    private MigrationProbe(ProbeTarget target, Kind kind, int probesPerSecond, CaptureRing ring,
            @Nullable InjectionSocket injection, @Nullable DatagramChannel channel) {
        this.target = target;
        this.kind = kind;
        this.probesPerSecond = probesPerSecond;
        this.ring = ring;
        this.injection = injection;
        this.channel = channel;
        ThreadLocalRandom random = ThreadLocalRandom.current();
        this.packets = new ProbePackets(target, random.nextLong(), random.nextInt());
        this.receiver = Thread.ofPlatform().daemon().name("probe-receiver").start(this::receive);
        this.sender = Thread.ofPlatform().daemon().name("probe-sender").start(this::send);
    }

    /** Starts probing {@code target} with {@code kind} probes at {@code probesPerSecond}. */
    public static MigrationProbe start(ProbeTarget target, Kind kind, int probesPerSecond) {
        if (probesPerSecond <= 0 || probesPerSecond > 1_000_000) {
            throw new IllegalArgumentException("probesPerSecond must be in 1..1000000, was " + probesPerSecond);
        }
        NetworkNamespace namespace = NetworkNamespace.at(target.clientNamespace());
        Link link;
        try (NetworkLinks links = NetworkLinks.open(namespace)) {
            link = links.byName(target.clientInterface());
        }
        CaptureRing ring = CaptureRing.open(namespace, link, RING_BLOCK_SIZE, RING_BLOCKS, RING_BLOCK_TIMEOUT_MILLIS);
        try {
            return switch (kind) {
                // Through the qdisc like any host traffic, and seen (as outgoing) by the capture ring, which skips it.
                case ICMP_ECHO -> new MigrationProbe(target, kind, probesPerSecond, ring,
                        InjectionSocket.open(namespace, link, false), null);
                case UDP_PORT_UNREACHABLE -> new MigrationProbe(target, kind, probesPerSecond, ring, null,
                        namespace.call(() -> openChannel(target)));
            };
        } catch (RuntimeException e) {
            ring.close();
            throw e;
        }
    }

    /** Starts probing {@code target} with {@code kind} probes at {@link #DEFAULT_RATE}. */
    public static MigrationProbe start(ProbeTarget target, Kind kind) {
        return start(target, kind, DEFAULT_RATE);
    }

    private static DatagramChannel openChannel(ProbeTarget target) {
        try {
            // Unconnected: the port-unreachable replies must not turn into socket errors; the capture reads them.
            DatagramChannel channel = DatagramChannel.open(StandardProtocolFamily.INET);
            channel.bind(new InetSocketAddress(target.clientAddress(), 0));
            return channel;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a UDP socket in " + target.clientNamespace(), e);
        }
    }

    public Kind kind() {
        return kind;
    }

    public int probesPerSecond() {
        return probesPerSecond;
    }

    /** Probes sent so far. */
    public long sent() {
        return sent;
    }

    /** Replies received so far, duplicates included. */
    public long replies() {
        return replies;
    }

    /** Waits until {@code count} replies have arrived in total; false if {@code timeout} passed first. */
    public boolean awaitReplies(long count, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (replies < count) {
            if (System.nanoTime() > deadline || failure != null) {
                return false;
            }
            sleep(Duration.ofMillis(10));
        }
        return true;
    }

    /** Stops sending, collects late replies for a short grace period, then stops receiving. Idempotent. */
    public synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        sending = false;
        join(sender);
        sleep(REPLY_GRACE);
        receiving = false;
        join(receiver);
    }

    /**
     * Stops the probe and counts what happened to its probes across a migration whose destination resumed at
     * {@code destinationResumed}.
     *
     * @param qemuDowntime the downtime QEMU reported, if known
     * @param migrationTime QEMU's total migration time, if known
     * @param destinationReportedBroken whether the destination QEMU itself reported its NIC broken
     */
    public MigrationOutcome outcome(Instant destinationResumed, @Nullable Duration qemuDowntime,
            @Nullable Duration migrationTime, boolean destinationReportedBroken) {
        stop();
        if (failure != null) {
            throw new IllegalStateException("probe thread failed", failure);
        }
        long missedReplies = ring.statistics().drops();
        if (missedReplies > 0) {
            throw new IllegalStateException("the probe's capture ring dropped " + missedReplies
                    + " frames: its counts would be wrong");
        }
        int count = sendTimes.size();
        BitSet answered = new BitSet(count);
        long duplicated = 0;
        long reordered = 0;
        long highest = -1;
        long[] arrivals = new long[replyTimes.size()];
        int arrivalCount = 0;
        for (int i = 0; i < replySequences.size(); i++) {
            long sequence = replySequences.get(i);
            if (sequence < 0 || sequence >= count) {
                continue;
            }
            arrivals[arrivalCount++] = replyTimes.get(i);
            if (answered.get((int) sequence)) {
                duplicated++;
                continue;
            }
            answered.set((int) sequence);
            if (sequence < highest) {
                reordered++;
            }
            highest = Math.max(highest, sequence);
        }
        long replied = answered.cardinality();
        return new MigrationOutcome(kind, probesPerSecond, count, replied, count - replied, duplicated, reordered,
                longestGap(Arrays.copyOf(arrivals, arrivalCount), count),
                qemuDowntime, migrationTime,
                destinationReportedBroken || silentAfter(destinationResumed.plus(SETTLE_AFTER_RESUME), answered));
    }

    /** The longest stretch without a reply between the first and the last probe sent. */
    private Duration longestGap(long[] arrivals, int count) {
        if (count == 0) {
            return Duration.ZERO;
        }
        Arrays.sort(arrivals);
        long windowStart = sendTimes.get(0);
        long windowEnd = sendTimes.get(count - 1);
        long previous = windowStart;
        long longest = 0;
        for (long arrival : arrivals) {
            if (arrival < windowStart) {
                continue;
            }
            if (arrival > windowEnd) {
                break;
            }
            longest = Math.max(longest, arrival - previous);
            previous = arrival;
        }
        return Duration.ofNanos(Math.max(longest, windowEnd - previous));
    }

    /** Whether probes were sent after {@code from} and not one of them was answered. */
    private boolean silentAfter(Instant from, BitSet answered) {
        long fromNanos = epochNanos(from);
        long probesAfter = 0;
        for (int sequence = 0; sequence < sendTimes.size(); sequence++) {
            if (sendTimes.get(sequence) >= fromNanos) {
                probesAfter++;
                if (answered.get(sequence)) {
                    return false;
                }
            }
        }
        return probesAfter > 0;
    }

    private void send() {
        long period = 1_000_000_000L / probesPerSecond;
        long start = System.nanoTime();
        InetSocketAddress guest = new InetSocketAddress(target.guestAddress(), ProbePackets.CLOSED_PORT);
        try (Arena arena = Arena.ofConfined()) {
            // The virtio_net_hdr stays zero: a plain frame, no offloads.
            MemorySegment frame = arena.allocate(InjectionSocket.VNET_HEADER_SIZE + ProbePackets.ECHO_FRAME_LENGTH);
            ByteBuffer frameBytes = frame.asByteBuffer();
            ByteBuffer datagram = ByteBuffer.allocate(ProbePackets.PAYLOAD_LENGTH);
            for (long sequence = 0; sending; sequence++) {
                long due = start + sequence * period;
                for (long wait = due - System.nanoTime(); wait > 0 && sending; wait = due - System.nanoTime()) {
                    LockSupport.parkNanos(wait);
                }
                if (!sending) {
                    break;
                }
                sendTimes.add(epochNanos(Instant.now()));
                try {
                    if (injection != null) {
                        packets.echoRequest(sequence, frameBytes, InjectionSocket.VNET_HEADER_SIZE);
                        injection.send(frame, frame.byteSize());
                    } else if (channel != null) {
                        packets.udpPayload(sequence, datagram);
                        channel.send(datagram, guest);
                    }
                } catch (NativeCallException | IOException e) {
                    // A probe the client's own kernel refused still counts as sent: it is lost like any other.
                    sendFailures++;
                }
                sent = sequence + 1;
            }
        } catch (RuntimeException | Error e) {
            failure = e;
        }
    }

    private void receive() {
        CaptureRing.FrameHandler handler = frame -> {
            if (frame.outgoing()) {
                return;
            }
            long sequence = packets.answeredSequence(frame.frame(), kind);
            if (sequence != ProbePackets.NO_PROBE) {
                replySequences.add(sequence);
                replyTimes.add(frame.kernelTimeNanos());
                replies++;
            }
        };
        try {
            while (receiving) {
                ring.poll(POLL_MILLIS, handler);
            }
            ring.drain(handler);
        } catch (RuntimeException | Error e) {
            failure = e;
        }
    }

    /** Probes the client's kernel refused to send (counted as sent and, unanswered, as lost). */
    public long sendFailures() {
        return sendFailures;
    }

    @Override
    public void close() {
        stop();
        ring.close();
        if (injection != null) {
            injection.close();
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // Nothing left to release.
            }
        }
    }

    private static long epochNanos(Instant instant) {
        return instant.getEpochSecond() * 1_000_000_000L + instant.getNano();
    }

    private static void join(Thread thread) {
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while stopping the probe", e);
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** A growing array of longs written by one thread and read by others only after that thread ended. */
    private static final class Samples {
        private long[] values = new long[4096];
        private int size;

        void add(long value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        long get(int index) {
            return values[index];
        }

        int size() {
            return size;
        }
    }
}
