package io.netpass.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netpass.agent.stream.FinalCountDatagrams.Outcome;
import io.netpass.agent.stream.PeerDatagram.Kind;

/**
 * The final-count port over loopback: each datagram received is acted on by the session listening for its kind and
 * migration, or counted as what it is, and nothing a sender does ends the receiving thread.
 */
class FinalCountDatagramsTest {

    private static final byte[] KEY = PeerDatagram.newKey();
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private FinalCountDatagrams datagrams;
    private DatagramChannel sender;
    private InetSocketAddress port;

    @BeforeEach
    void open() throws IOException {
        datagrams = new FinalCountDatagrams(new FinalCountProperties(true, 0));
        port = new InetSocketAddress(InetAddress.getLoopbackAddress(), datagrams.port());
        sender = DatagramChannel.open();
    }

    @AfterEach
    void close() throws IOException {
        sender.close();
        datagrams.close();
    }

    @Test
    void theFirstReleaseIsAcceptedAndAReplayIsLateThenUnknownOnceTheSessionStopsListening() throws IOException {
        AtomicInteger releases = new AtomicInteger();
        FinalCountDatagrams.Listening listening = datagrams.listenForRelease("m-1", KEY,
                () -> releases.incrementAndGet() == 1);
        byte[] release = release("m-1", KEY);

        send(release);
        awaitReceived(Kind.RELEASE, Outcome.ACCEPTED, 1);
        send(release);
        awaitReceived(Kind.RELEASE, Outcome.LATE, 1);
        listening.close();
        send(release);
        awaitReceived(Kind.RELEASE, Outcome.UNKNOWN_MIGRATION, 1);

        assertThat(releases).hasValue(2);
    }

    @Test
    void aReleaseUnderAnotherKeyAndAFinalCountForAMigrationAwaitingAReleaseDoNotRelease() throws IOException {
        AtomicInteger releases = new AtomicInteger();
        datagrams.listenForRelease("m-1", KEY, () -> releases.incrementAndGet() == 1);

        send(release("m-1", PeerDatagram.newKey()));
        send(PeerDatagram.sealer(Kind.FINAL_COUNT, "m-1", KEY).sealFinalCount(new SourceRead(5, 0, true), null));
        send(release("m-nobody-armed", KEY));
        send(new byte[] {'N', 'P', 'R', 'L', 1});
        send("not a datagram of ours".getBytes(java.nio.charset.StandardCharsets.US_ASCII));

        awaitReceived(Kind.RELEASE, Outcome.REFUSED, 1);
        awaitReceived(Kind.FINAL_COUNT, Outcome.UNKNOWN_MIGRATION, 1);
        awaitReceived(Kind.RELEASE, Outcome.UNKNOWN_MIGRATION, 1);
        awaitUnreadable(2);
        assertThat(releases).hasValue(0);
        assertThat(datagrams.received(Kind.RELEASE, Outcome.ACCEPTED)).isZero();
    }

    @Test
    void aFinalCountIsNotTakenForAReleaseNorAReleaseForAFinalCount() throws IOException {
        AtomicInteger finalCounts = new AtomicInteger();
        AtomicInteger releases = new AtomicInteger();
        // One agent both source and destination of a migration: one listener of each kind.
        datagrams.listenForFinalCount("m-1", KEY, records -> finalCounts.incrementAndGet() == 1);
        datagrams.listenForRelease("m-1", KEY, () -> releases.incrementAndGet() == 1);

        send(release("m-1", KEY));
        awaitReceived(Kind.RELEASE, Outcome.ACCEPTED, 1);
        send(PeerDatagram.sealer(Kind.FINAL_COUNT, "m-1", KEY).sealFinalCount(new SourceRead(5, 0, true), null));
        awaitReceived(Kind.FINAL_COUNT, Outcome.ACCEPTED, 1);

        assertThat(releases).hasValue(1);
        assertThat(finalCounts).hasValue(1);
    }

    @Test
    void aSessionFailingOnADatagramIsCountedAndTheReceiverGoesOn() throws IOException {
        datagrams.listenForRelease("m-failing", KEY, () -> {
            throw new IllegalStateException("a session's bug");
        });
        AtomicInteger releases = new AtomicInteger();
        datagrams.listenForRelease("m-1", KEY, () -> releases.incrementAndGet() == 1);

        send(release("m-failing", KEY));
        awaitReceived(Kind.RELEASE, Outcome.FAILED, 1);
        send(release("m-1", KEY));
        awaitReceived(Kind.RELEASE, Outcome.ACCEPTED, 1);
    }

    @Test
    void everyKindAndOutcomeIsExportedOnOneMeter() throws IOException {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        datagrams.bindTo(registry);
        datagrams.listenForRelease("m-1", KEY, () -> true);

        send(release("m-1", KEY));
        awaitReceived(Kind.RELEASE, Outcome.ACCEPTED, 1);

        assertThat(registry.get("netpass.agent.final.count.datagrams.received").tag("kind", "release")
                .tag("outcome", "accepted").functionCounter().count()).isEqualTo(1);
        assertThat(registry.get("netpass.agent.final.count.datagrams.received").functionCounters())
                .hasSize(2 * Outcome.values().length + 1);
        assertThat(datagrams.send(Kind.RELEASE, port, release("m-2", KEY))).isTrue();
        assertThat(registry.get("netpass.agent.final.count.datagrams.sent").tag("kind", "release").functionCounter()
                .count()).isEqualTo(1);
    }

    private static byte[] release(String migrationId, byte[] key) {
        return PeerDatagram.sealer(Kind.RELEASE, migrationId, key).sealRelease();
    }

    private void send(byte[] datagram) throws IOException {
        sender.send(ByteBuffer.wrap(datagram), port);
    }

    private void awaitReceived(Kind kind, Outcome outcome, long count) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (datagrams.received(kind, outcome) < count) {
            assertThat(System.nanoTime()).as("%s %s datagrams received", kind, outcome).isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        assertThat(datagrams.received(kind, outcome)).isEqualTo(count);
    }

    private void awaitUnreadable(long count) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (datagrams.receivedUnreadable() < count) {
            assertThat(System.nanoTime()).as("unreadable datagrams received").isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }
}
