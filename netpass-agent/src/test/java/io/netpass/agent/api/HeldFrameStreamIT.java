package io.netpass.agent.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.stream.ForwardedFrame;
import io.netpass.agent.stream.FrameStreamDecoder;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.stream.SourceRead;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The stream a destination opens when armed ({@code hold=true}) carries the kept frames before any release: each
 * once the paused VM has left it unread for the forward-ahead delay, and a READ record when the VM reads frames
 * already sent. The release (the destination's request, or the moved VM's own frame reaching the old tap) ends it
 * after the quiet period.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HeldFrameStreamIT {

    private static final Path WORK = Path.of("target", "it-agents", "HeldFrameStreamIT");
    private static final int KEPT = 300;
    private static final Duration STREAM_TIMEOUT = Duration.ofSeconds(30);

    private static NamespaceLab lab;
    private static Host host;
    private static Client client;
    private static AgentProcess agent;
    private static PeerClient peers;

    @BeforeAll
    static void start() {
        agent = AgentProcess.start("a", WORK);
        lab = new NamespaceLab();
        host = lab.host("h");
        client = lab.client("cl", host);
        peers = new PeerClient(agent::peerToken);
    }

    @AfterAll
    static void stop() {
        try {
            if (agent != null) {
                try {
                    agent.assertNoLeaks();
                } finally {
                    agent.close();
                }
            }
        } finally {
            if (lab != null) {
                lab.close();
            }
        }
    }

    @Test
    void framesThePausedVmLeavesUnreadTravelBeforeAnyReleaseAndTheReleaseRequestEndsTheStream() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:75:01");
        try (FakeVm vm = armedSource("m-held-ahead", "taph0", mac)) {
            HeldStream stream = HeldStream.open("m-held-ahead");
            vm.pause();
            send(mac, KEPT);

            List<Long> frames = stream.awaitFrames(KEPT);
            assertThat(frames).hasSize(KEPT).isSorted().doesNotHaveDuplicates();
            assertThat(source("m-held-ahead").path("state").asString()).as("released?").isEqualTo("armed");
            assertThat(stream.ended).as("END before the release").isNotDone();

            assertThat(agent.api().withToken(agent.peerToken()).release("m-held-ahead").status()).isEqualTo(204);
            assertThat(stream.ended.join()).as("frames after the release").isEqualTo(KEPT);
            JsonNode source = source("m-held-ahead");
            assertThat(source.path("state").asString()).isIn("forwarding", "completed");
            assertThat(source.path("counters").path("forwardedFrames").asLong()).as("%s", source).isEqualTo(KEPT);
            agent.api().disarm("m-held-ahead", "source");
        }
    }

    @Test
    void framesTheVmReadsAfterTheyWereSentAreWithdrawnByAReadRecord() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:75:02");
        try (FakeVm vm = armedSource("m-held-read", "taph1", mac)) {
            HeldStream stream = HeldStream.open("m-held-read");
            vm.pause();
            send(mac, KEPT);
            long newest = stream.awaitFrames(KEPT).getLast();
            assertThat(stream.reads).as("READ records while the VM has read nothing since").allMatch(read -> read
                    < stream.frames.getFirst());

            // The VM was only slow: it reads its backlog after all, and the destination is told.
            assertThat(vm.resumeAndReadBacklog(Duration.ofMillis(300), STREAM_TIMEOUT)).hasSize(KEPT);
            long deadline = System.nanoTime() + STREAM_TIMEOUT.toNanos();
            while (stream.reads.isEmpty() || stream.reads.getLast() < newest) {
                assertThat(System.nanoTime()).as("READ through %d, got %s", newest, stream.reads).isLessThan(deadline);
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
            }
            assertThat(source("m-held-read").path("state").asString()).isEqualTo("armed");
            agent.api().disarm("m-held-read", "source");
            stream.close();
        }
    }

    @Test
    void theMovedVmsOwnFrameReachingTheOldTapReleasesTheSource() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:75:03");
        try (FakeVm vm = armedSource("m-held-flood", "taph2", mac);
                FakeVm moved = host.startVm("taph3", mac)) {
            HeldStream stream = HeldStream.open("m-held-flood");
            vm.pause();
            send(mac, KEPT);
            stream.awaitFrames(KEPT);
            assertThat(source("m-held-flood").path("state").asString()).isEqualTo("armed");

            // The VM resumes elsewhere on the same network: its announcement floods to the old tap too.
            moved.announce();

            assertThat(stream.ended.join()).isEqualTo(KEPT);
            JsonNode source = source("m-held-flood");
            assertThat(source.path("releasedAt").isNull()).as("%s", source).isFalse();
            assertThat(source.path("counters").path("forwardedFrames").asLong()).as("%s", source).isEqualTo(KEPT);
            agent.api().disarm("m-held-flood", "source");
        }
    }

    /** A running VM on {@code tap}, armed as a migration's source. */
    private static FakeVm armedSource(String migrationId, String tap, EthernetAddress mac) {
        FakeVm vm = host.startVm(tap, mac);
        vm.announce();
        assertThat(agent.api().armSource(migrationId, tap, host.namespace().path().toString(),
                List.of(mac.toString())).status()).isEqualTo(200);
        return vm;
    }

    private static void send(EthernetAddress mac, int frames) {
        try (FrameSender sender = client.sender()) {
            sender.send(client.trafficTo(mac), 0, frames);
        }
    }

    /** A held stream read as a destination reads it: the frames and READ records in arrival order. */
    private static final class HeldStream implements AutoCloseable {
        final List<Long> frames = new CopyOnWriteArrayList<>();
        final List<Long> reads = new CopyOnWriteArrayList<>();
        /** Completes with the number of frames once the END record arrived. */
        final CompletableFuture<Integer> ended = new CompletableFuture<>();
        private final Disposable subscription;

        private HeldStream(String migrationId) {
            FrameStreamDecoder decoder = new FrameStreamDecoder();
            subscription = decoder.decode(peers.frames(agent.baseUri(), migrationId, FrameStreamDecoder.NO_SEQUENCE,
                            true, null))
                    .subscribe(record -> {
                        switch (record) {
                            case ForwardedFrame frame when frame.heldByVmm() -> { }
                            case ForwardedFrame frame -> frames.add(frame.sequence());
                            case SourceRead read -> reads.add(read.unreadFrom() - 1);
                        }
                    }, ended::completeExceptionally, () -> ended.complete(frames.size()));
        }

        static HeldStream open(String migrationId) {
            return new HeldStream(migrationId);
        }

        List<Long> awaitFrames(int count) {
            long deadline = System.nanoTime() + STREAM_TIMEOUT.toNanos();
            while (frames.size() < count) {
                assertThat(System.nanoTime()).as("%d of %d frames", frames.size(), count).isLessThan(deadline);
                assertThat(ended).as("stream ended early").isNotDone();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
            }
            return List.copyOf(frames);
        }

        @Override
        public void close() {
            subscription.dispose();
        }
    }

    private static JsonNode source(String migrationId) {
        return agent.api().session(migrationId, "source");
    }
}
