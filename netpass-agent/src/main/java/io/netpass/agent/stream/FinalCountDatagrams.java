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
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.netpass.agent.linux.ThreadPriority;

/**
 * The agent's UDP socket, its final-count port, for the {@link PeerDatagram sealed datagrams} of the switchover:
 * destination sessions listen on it for their migration's final count and send the release from it, source sessions
 * listen for the release and send the final count. One platform thread receives, so that a datagram is acted on the
 * moment it lands; what it cannot use is counted by kind and outcome and otherwise ignored (a datagram gets no
 * answer).
 */
public final class FinalCountDatagrams implements MeterBinder, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(FinalCountDatagrams.class);
    private static final int WARM_UP_ROUNDS = 5_000;
    /** Refusals are logged at most this often: anyone can send datagrams to the port, the counter has them all. */
    private static final long REFUSAL_LOG_INTERVAL_NANOS = 10_000_000_000L;

    /** The {@code kind} tag of a datagram received whose header names no kind. */
    private static final String UNREADABLE_KIND = "unreadable";

    /** What became of a datagram received, the {@code outcome} tag of its meter. */
    public enum Outcome {
        /**
         * Its count was the first final count the destination session got; its release was the first word of the
         * switchover the source session got.
         */
        ACCEPTED,
        /** Its count came after the stream's; the source session had learned of the switchover already. */
        LATE,
        /** No session of this agent listens for its kind and migration (finished, disarmed, or not ours). */
        UNKNOWN_MIGRATION,
        /** Malformed, or not sealed with the key of the migration it names (forged, altered, stale, misdirected). */
        REFUSED,
        /** Its session failed acting on it (a bug: logged). */
        FAILED;

        String tag() {
            return name().toLowerCase();
        }
    }

    private record ListenerKey(PeerDatagram.Kind kind, String migrationId) {
    }

    /** Opens a datagram and acts on it; returns whether it was the first of its session, throws if it is not one. */
    @FunctionalInterface
    private interface Listener {
        boolean accept(ByteBuffer datagram);
    }

    /** A session listening for its migration's datagrams; closing it stops that. */
    @FunctionalInterface
    public interface Listening extends AutoCloseable {
        @Override
        void close();
    }

    private final FinalCountProperties properties;
    private final DatagramChannel channel;
    private final Map<ListenerKey, Listener> listeners = new ConcurrentHashMap<>();
    private final Map<PeerDatagram.Kind, Map<Outcome, AtomicLong>> received = new EnumMap<>(PeerDatagram.Kind.class);
    private final AtomicLong receivedUnreadable = new AtomicLong();
    private final Map<PeerDatagram.Kind, AtomicLong> sent = new EnumMap<>(PeerDatagram.Kind.class);
    private final Map<PeerDatagram.Kind, AtomicLong> sendFailures = new EnumMap<>(PeerDatagram.Kind.class);
    private final Thread receiver;
    private volatile boolean closing;
    // Only the receiving thread uses these two.
    private long nextRefusalLogNanos = System.nanoTime();
    private long refusalsNotLogged;

    public FinalCountDatagrams(FinalCountProperties properties) {
        this.properties = properties;
        for (PeerDatagram.Kind kind : PeerDatagram.Kind.values()) {
            Map<Outcome, AtomicLong> byOutcome = new EnumMap<>(Outcome.class);
            for (Outcome outcome : Outcome.values()) {
                byOutcome.put(outcome, new AtomicLong());
            }
            received.put(kind, byOutcome);
            sent.put(kind, new AtomicLong());
            sendFailures.put(kind, new AtomicLong());
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
     * Seals, sends and opens datagrams until the JIT has compiled the path. A migration sends one of each kind, which
     * the interpreter takes about a millisecond to seal or open (the cipher's set-up, AES-GCM) and hundreds of
     * microseconds to send: the switchover would wait for that. What is sent goes to a socket of its own, unread.
     */
    private void warmUp() {
        long started = System.nanoTime();
        byte[] key = PeerDatagram.newKey();
        SourceRead count = new SourceRead(1, 0, true);
        try (DatagramChannel sink = DatagramChannel.open()) {
            sink.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            InetSocketAddress sinkAddress = (InetSocketAddress) sink.getLocalAddress();
            for (int i = 0; i < WARM_UP_ROUNDS; i++) {
                byte[] finalCount = Objects.requireNonNull(PeerDatagram.sealer(PeerDatagram.Kind.FINAL_COUNT,
                        "warm-up", key).sealFinalCount(count, null));
                PeerDatagram.opener(key).openFinalCount(ByteBuffer.wrap(finalCount));
                channel.send(ByteBuffer.wrap(finalCount), sinkAddress);
                byte[] release = PeerDatagram.sealer(PeerDatagram.Kind.RELEASE, "warm-up", key).sealRelease();
                PeerDatagram.opener(key).openRelease(ByteBuffer.wrap(release));
                channel.send(ByteBuffer.wrap(release), sinkAddress);
            }
        } catch (IOException e) {
            log.debug("final-count datagrams: warming up the send path failed: {}", e.getMessage());
        }
        log.debug("final-count datagrams: warmed up in {} ms", (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Whether this agent receives datagrams: destination sessions then ask their sources for the final count, and
     * source sessions tell their destinations where to send the release.
     */
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
     * Hands the records of each final-count datagram for {@code migrationId} sealed with {@code key} to
     * {@code onFinalCount}, on the receiving thread, which it must not hold up; it returns whether the count was the
     * first one the session got.
     */
    public Listening listenForFinalCount(String migrationId, byte[] key,
            Predicate<List<FrameStreamRecord>> onFinalCount) {
        PeerDatagram.Opener opener = PeerDatagram.opener(key);
        return listen(new ListenerKey(PeerDatagram.Kind.FINAL_COUNT, migrationId),
                datagram -> onFinalCount.test(opener.openFinalCount(datagram)));
    }

    /**
     * Calls {@code onRelease} for each release datagram for {@code migrationId} sealed with {@code key}, on the
     * receiving thread, which it may use for the release's first steps; it returns whether this was the first word
     * of the switchover the session got.
     */
    public Listening listenForRelease(String migrationId, byte[] key, BooleanSupplier onRelease) {
        PeerDatagram.Opener opener = PeerDatagram.opener(key);
        return listen(new ListenerKey(PeerDatagram.Kind.RELEASE, migrationId), datagram -> {
            opener.openRelease(datagram);
            return onRelease.getAsBoolean();
        });
    }

    private Listening listen(ListenerKey key, Listener listener) {
        listeners.put(key, listener);
        return () -> listeners.remove(key, listener);
    }

    /**
     * Sends a sealed datagram of {@code kind}; returns whether the kernel took it. Never blocks for long: UDP has no
     * backpressure.
     */
    public boolean send(PeerDatagram.Kind kind, InetSocketAddress to, byte[] datagram) {
        try {
            channel.send(ByteBuffer.wrap(datagram), to);
            sent.get(kind).incrementAndGet();
            return true;
        } catch (IOException | RuntimeException e) {
            // RuntimeException: an address that did not resolve, or a channel closed at shutdown.
            sendFailures.get(kind).incrementAndGet();
            log.warn("sending the {} datagram to {} failed: {}", kind.tag(), to, e.getMessage());
            return false;
        }
    }

    /** How many datagrams of {@code kind} received had {@code outcome}. */
    public long received(PeerDatagram.Kind kind, Outcome outcome) {
        return received.get(kind).get(outcome).get();
    }

    /** How many datagrams received had no readable header (refused before their kind was known). */
    public long receivedUnreadable() {
        return receivedUnreadable.get();
    }

    private void receive() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(PeerDatagram.MAX_DATAGRAM_BYTES + 1);
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
            handle(buffer, from);
        }
    }

    private void handle(ByteBuffer datagram, SocketAddress from) {
        PeerDatagram.Header header;
        try {
            header = PeerDatagram.header(datagram);
        } catch (MalformedPeerDatagramException e) {
            logRefusal(from, e);
            receivedUnreadable.incrementAndGet();
            return;
        }
        received.get(header.kind()).get(handle(header, datagram, from)).incrementAndGet();
    }

    private Outcome handle(PeerDatagram.Header header, ByteBuffer datagram, SocketAddress from) {
        Listener listener = listeners.get(new ListenerKey(header.kind(), header.migrationId()));
        if (listener == null) {
            log.debug("{} datagram from {} for migration {}, which this agent does not await", header.kind().tag(),
                    from, header.migrationId());
            return Outcome.UNKNOWN_MIGRATION;
        }
        try {
            return listener.accept(datagram) ? Outcome.ACCEPTED : Outcome.LATE;
        } catch (MalformedPeerDatagramException e) {
            logRefusal(from, e);
            return Outcome.REFUSED;
        } catch (RuntimeException e) {
            // The receiving thread serves every session: one session's failure must not end it.
            log.warn("{}: acting on a {} datagram failed", header.migrationId(), header.kind().tag(), e);
            return Outcome.FAILED;
        }
    }

    private void logRefusal(SocketAddress from, MalformedPeerDatagramException refusal) {
        long now = System.nanoTime();
        if (now - nextRefusalLogNanos < 0) {
            refusalsNotLogged++;
            return;
        }
        log.warn("datagram from {} refused: {}{}", from, refusal.getMessage(), refusalsNotLogged == 0 ? ""
                : " (" + refusalsNotLogged + " more refused since the last one logged)");
        refusalsNotLogged = 0;
        nextRefusalLogNanos = now + REFUSAL_LOG_INTERVAL_NANOS;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        for (PeerDatagram.Kind kind : PeerDatagram.Kind.values()) {
            for (Outcome outcome : Outcome.values()) {
                receivedCounter(registry, kind.tag(), outcome, received.get(kind).get(outcome));
            }
            FunctionCounter.builder("netpass.agent.final.count.datagrams.sent", sent.get(kind), AtomicLong::get)
                    .description("Datagrams sent on the final-count port, by kind: final counts to destination "
                            + "agents, releases to source agents.")
                    .tag("kind", kind.tag())
                    .register(registry);
            FunctionCounter.builder("netpass.agent.final.count.datagrams.send.failed", sendFailures.get(kind),
                            AtomicLong::get)
                    .description("Datagrams the kernel refused to send (the stream still carries the count, the "
                            + "HTTP request still carries the release).")
                    .tag("kind", kind.tag())
                    .register(registry);
        }
        receivedCounter(registry, UNREADABLE_KIND, Outcome.REFUSED, receivedUnreadable);
    }

    private static void receivedCounter(MeterRegistry registry, String kind, Outcome outcome, AtomicLong count) {
        FunctionCounter.builder("netpass.agent.final.count.datagrams.received", count, AtomicLong::get)
                .description("Datagrams received on the final-count port, by kind and what became of them.")
                .tag("kind", kind)
                .tag("outcome", outcome.tag())
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
