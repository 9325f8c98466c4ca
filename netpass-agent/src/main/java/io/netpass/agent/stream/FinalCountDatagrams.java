package io.netpass.agent.stream;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.netpass.agent.linux.ThreadPriority;

/**
 * The agent's UDP socket for {@link FinalCountDatagram final-count datagrams}: destination sessions listen on it
 * for their migration, source sessions send from it. One platform thread receives, so that a count is acted on the
 * moment it lands; what it cannot use is counted by outcome and otherwise ignored (a datagram gets no answer).
 */
public final class FinalCountDatagrams implements MeterBinder, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(FinalCountDatagrams.class);
    private static final int WARM_UP_ROUNDS = 5_000;
    /** Refusals are logged at most this often: anyone can send datagrams to the port, the counter has them all. */
    private static final long REFUSAL_LOG_INTERVAL_NANOS = 10_000_000_000L;

    /** What became of a datagram received, the {@code outcome} tag of its meter. */
    public enum Outcome {
        /** Its count was the first final count the destination session got. */
        ACCEPTED,
        /** Its count came after the stream's. */
        LATE,
        /** No destination session of this agent listens for its migration. */
        UNKNOWN_MIGRATION,
        /** Malformed, or not sealed with the key of the migration it names. */
        REFUSED;

        String tag() {
            return name().toLowerCase();
        }
    }

    private record Listener(FinalCountDatagram.Opener opener, Predicate<List<FrameStreamRecord>> onFinalCount) {
    }

    /** A session listening for its migration's datagrams; closing it stops that. */
    @FunctionalInterface
    public interface Listening extends AutoCloseable {
        @Override
        void close();
    }

    private final FinalCountProperties properties;
    private final DatagramChannel channel;
    private final Map<String, Listener> listeners = new ConcurrentHashMap<>();
    private final Map<Outcome, AtomicLong> received = new EnumMap<>(Outcome.class);
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong sendFailures = new AtomicLong();
    private final Thread receiver;
    private volatile boolean closing;
    // Only the receiving thread uses these two.
    private long nextRefusalLogNanos = System.nanoTime();
    private long refusalsNotLogged;

    public FinalCountDatagrams(FinalCountProperties properties) {
        this.properties = properties;
        for (Outcome outcome : Outcome.values()) {
            received.put(outcome, new AtomicLong());
        }
        try {
            channel = DatagramChannel.open();
            // Without listening, a socket on any free port only sends.
            channel.bind(new InetSocketAddress(properties.enabled() ? properties.port() : 0));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the final-count UDP port " + properties.port(), e);
        }
        receiver = Thread.ofPlatform().name("final-count-receiver").daemon().unstarted(() -> {
            ThreadPriority.enterReleasePath();
            receive();
        });
        Thread.ofPlatform().name("final-count-warm-up").daemon().start(this::warmUp);
        if (properties.enabled()) {
            receiver.start();
            log.info("final-count datagrams: listening on UDP port {}", port());
        }
    }

    /**
     * Seals, sends and opens datagrams until the JIT has compiled the path. A migration sends one datagram, which
     * the interpreter takes about a millisecond to seal or open (the cipher's set-up, AES-GCM) and hundreds of
     * microseconds to send: the switchover would wait for that. What is sent goes to a socket of its own, unread.
     */
    private void warmUp() {
        long started = System.nanoTime();
        byte[] key = FinalCountDatagram.newKey();
        SourceRead count = new SourceRead(1, 0, true);
        try (DatagramChannel sink = DatagramChannel.open()) {
            sink.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            InetSocketAddress sinkAddress = (InetSocketAddress) sink.getLocalAddress();
            for (int i = 0; i < WARM_UP_ROUNDS; i++) {
                byte[] datagram = Objects.requireNonNull(FinalCountDatagram.sealer("warm-up", key).seal(count, null));
                FinalCountDatagram.opener(key).open(ByteBuffer.wrap(datagram));
                channel.send(ByteBuffer.wrap(datagram), sinkAddress);
            }
        } catch (IOException e) {
            log.debug("final-count datagrams: warming up the send path failed: {}", e.getMessage());
        }
        log.debug("final-count datagrams: warmed up in {} ms", (System.nanoTime() - started) / 1_000_000);
    }

    /** Whether destination sessions ask their sources for the datagram. */
    public boolean listening() {
        return properties.enabled();
    }

    /** The UDP port datagrams are received on. */
    public int port() {
        try {
            return ((InetSocketAddress) channel.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Hands the records of each datagram for {@code migrationId} sealed with {@code key} to {@code onFinalCount},
     * on the receiving thread, which it must not hold up; it returns whether the count was the first one the
     * session got.
     */
    public Listening listen(String migrationId, byte[] key, Predicate<List<FrameStreamRecord>> onFinalCount) {
        Listener listener = new Listener(FinalCountDatagram.opener(key), onFinalCount);
        listeners.put(migrationId, listener);
        return () -> listeners.remove(migrationId, listener);
    }

    /** Sends a sealed datagram; returns whether the kernel took it. Never blocks for long: UDP has no backpressure. */
    public boolean send(InetSocketAddress to, byte[] datagram) {
        try {
            channel.send(ByteBuffer.wrap(datagram), to);
            sent.incrementAndGet();
            return true;
        } catch (IOException e) {
            sendFailures.incrementAndGet();
            log.warn("sending the final-count datagram to {} failed: {}", to, e.getMessage());
            return false;
        }
    }

    /** How many datagrams received had {@code outcome}. */
    public long received(Outcome outcome) {
        return received.get(outcome).get();
    }

    private void receive() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(FinalCountDatagram.MAX_DATAGRAM_BYTES + 1);
        while (!closing) {
            SocketAddress from;
            try {
                buffer.clear();
                from = channel.receive(buffer);
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                log.warn("receiving final-count datagrams failed: {}", e.getMessage());
                continue;
            }
            buffer.flip();
            received.get(handle(buffer, from)).incrementAndGet();
        }
    }

    private Outcome handle(ByteBuffer datagram, SocketAddress from) {
        Listener listener;
        List<FrameStreamRecord> records;
        String migrationId;
        try {
            migrationId = FinalCountDatagram.migrationId(datagram);
            listener = listeners.get(migrationId);
            if (listener == null) {
                log.debug("final-count datagram from {} for migration {}, which this agent does not await", from,
                        migrationId);
                return Outcome.UNKNOWN_MIGRATION;
            }
            records = listener.opener().open(datagram);
        } catch (MalformedFinalCountDatagramException e) {
            logRefusal(from, e);
            return Outcome.REFUSED;
        }
        return listener.onFinalCount().test(records) ? Outcome.ACCEPTED : Outcome.LATE;
    }

    private void logRefusal(SocketAddress from, MalformedFinalCountDatagramException refusal) {
        long now = System.nanoTime();
        if (now - nextRefusalLogNanos < 0) {
            refusalsNotLogged++;
            return;
        }
        log.warn("final-count datagram from {} refused: {}{}", from, refusal.getMessage(), refusalsNotLogged == 0 ? ""
                : " (" + refusalsNotLogged + " more refused since the last one logged)");
        refusalsNotLogged = 0;
        nextRefusalLogNanos = now + REFUSAL_LOG_INTERVAL_NANOS;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        for (Outcome outcome : Outcome.values()) {
            FunctionCounter.builder("netpass.agent.final.count.datagrams.received", received.get(outcome),
                            AtomicLong::get)
                    .description("Final-count datagrams received, by what became of them.")
                    .tag("outcome", outcome.tag())
                    .register(registry);
        }
        FunctionCounter.builder("netpass.agent.final.count.datagrams.sent", sent, AtomicLong::get)
                .description("Final-count datagrams sent to destination agents.")
                .register(registry);
        FunctionCounter.builder("netpass.agent.final.count.datagrams.send.failed", sendFailures, AtomicLong::get)
                .description("Final-count datagrams the kernel refused to send (the stream still carries the count).")
                .register(registry);
    }

    @Override
    public void close() {
        closing = true;
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing the final-count socket: {}", e.getMessage());
        }
    }
}
