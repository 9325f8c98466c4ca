package io.netpass.agent.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

import io.netpass.agent.stream.ForwardedFrame;
import io.netpass.agent.stream.FrameStreamDecoder;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SeededTrials;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.HttpProtocol;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The source agent's frame stream endpoint under destinations that misbehave or just repeat themselves: streams
 * cancelled at random points — before the first chunk, while the source is blocked on HTTP/2 flow control, while it
 * waits for new frames — leave no buffer unreleased (the agent runs with Netty's leak detector at paranoid) and the
 * source serving; pulls one after another over one h2c connection each deliver every kept frame.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PeerFrameStreamIT {

    private static final Path WORK = Path.of("target", "it-agents", "PeerFrameStreamIT");
    private static final EthernetAddress MAC = EthernetAddress.of("52:54:00:6e:73:01");
    private static final String MIGRATION = "m-cancel";
    /**
     * About 300 kB of stream in chunks of 256 frames (39 kB): more than HTTP/2's initial 64 KiB window, so the source
     * blocks on flow control within the first two chunks; the destination sees up to 16 KiB DATA frames.
     */
    private static final int KEPT = 2_000;
    private static final int DATA_FRAMES = 24;

    private static NamespaceLab lab;
    private static Host host;
    private static FakeVm vm;
    private static AgentProcess agent;

    @BeforeAll
    static void start() {
        // Streams never end on their own here: every one is ended by its destination.
        agent = AgentProcess.start("a", WORK, "--netpass.agent.forwarding.quiet-period=10m",
                "--netpass.agent.forwarding.deadline=20m");
        lab = new NamespaceLab();
        host = lab.host("h");
        Client client = lab.client("cl", host);
        vm = host.startVm("tapc0", MAC);
        vm.announce();
        AgentApi controller = agent.api();
        assertThat(controller.armSource(MIGRATION, "tapc0", host.namespace().path().toString(),
                List.of(MAC.toString())).status()).isEqualTo(200);
        vm.pause();
        try (FrameSender sender = client.sender()) {
            sender.send(client.trafficTo(MAC), 0, KEPT);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (kept() < KEPT) {
            assertThat(System.nanoTime()).as("kept %d of %d", kept(), KEPT).isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }

    @AfterAll
    static void stop() {
        try {
            if (agent != null) {
                agent.api().disarm(MIGRATION, "source");
                agent.assertNoLeaks();
            }
        } finally {
            if (agent != null) {
                agent.close();
            }
            if (lab != null) {
                lab.close();
            }
        }
    }

    @Test
    void streamsCancelledAtRandomPointsLeakNoBufferAndLeaveTheSourceServing() {
        HttpClient peer = HttpClient.create().protocol(HttpProtocol.H2C)
                .headers(headers -> headers.set("Authorization", "Bearer " + agent.peerToken()));
        String frames = agent.baseUri() + "/v1/peer/migrations/" + MIGRATION + "/frames?after=-1";
        SeededTrials.run(40, random -> {
            // Up to a few DATA frames past the kept ones: then the source waits for frames that never come.
            long cancelAfter = random.nextLong(DATA_FRAMES + 4);
            long pauseMillis = random.nextLong(40);
            int concurrent = 1 + random.nextInt(3);
            Flux.range(0, concurrent).flatMap(i -> peer.get().uri(frames).responseContent()
                    .limitRate(1)
                    // A destination busy injecting: the source blocks on the stream's flow-control window.
                    .delayUntil(chunk -> Mono.delay(Duration.ofMillis(pauseMillis / 8)))
                    .take(cancelAfter)
                    // Past the kept frames the source waits for more that never come: cancelled then too.
                    .take(Duration.ofMillis(1_500))
                    .count()
                    .timeout(Duration.ofSeconds(30)))
                    .blockLast(Duration.ofSeconds(60));
        });

        // The source stays usable: every kept frame still arrives, in order.
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<Long> sequences = peer.get().uri(frames).responseContent().asByteArray()
                .concatMapIterable(bytes -> decoder.decode(DefaultDataBufferFactory.sharedInstance.wrap(bytes)))
                .ofType(ForwardedFrame.class)
                .filter(frame -> !frame.heldByVmm())
                .map(ForwardedFrame::sequence)
                .take(KEPT)
                .collectList()
                .block(Duration.ofSeconds(30));
        assertThat(sequences).hasSize(KEPT).isSorted().doesNotHaveDuplicates();
        JsonNode source = agent.api().session(MIGRATION, "source");
        assertThat(source.path("state").asString()).as("%s", source).isEqualTo("forwarding");
        agent.assertNoLeaks();
    }

    /**
     * The warm-switchover stall (docs/frame-stream.md, "Flow control"): pulls one after another over one h2c
     * connection, each consumed as a destination consumes it (decoded on an injection thread four chunks ahead), must
     * each deliver every kept frame without going silent for a second. Without {@link PeerClient}'s flush nudge about
     * one pull in 100 did: its WINDOW_UPDATE written but never flushed.
     */
    @Test
    void consecutivePullsOverOneConnectionEachDeliverEveryKeptFrameWithoutStalling() {
        // A pool of its own: one connection for this test alone, as between two agents.
        ConnectionProvider connection = ConnectionProvider.create("consecutive-pulls", 1);
        PeerClient peers = new PeerClient(HttpClient.create(connection).protocol(HttpProtocol.H2C), agent::peerToken);
        Scheduler injection = Schedulers.newSingle("injection");
        List<String> stalls = new ArrayList<>();
        // Each pull ends with a RST_STREAM, and Netty closes a connection after 200 of them in 30 s (its guard against
        // HTTP/2 rapid reset): 150 stay under it.
        int pulls = 150;
        try {
            for (int pull = 0; pull < pulls; pull++) {
                FrameStreamDecoder decoder = new FrameStreamDecoder();
                AtomicLong decoded = new AtomicLong();
                try {
                    // Silent for a second: what the destination would treat as a broken stream and resume.
                    peers.frames(agent.baseUri(), MIGRATION, -1)
                            .timeout(Duration.ofSeconds(1))
                            .publishOn(injection, 4)
                            .map(chunk -> decoded.addAndGet(decoder.decode(chunk).stream()
                                    .filter(record -> record instanceof ForwardedFrame frame && !frame.heldByVmm())
                                    .count()))
                            .takeUntil(frames -> frames >= KEPT)
                            .doOnDiscard(DataBuffer.class, DataBufferUtils::release)
                            .blockLast(Duration.ofSeconds(30));
                } catch (RuntimeException e) {
                    stalls.add("pull " + pull + " after " + decoded.get() + " frames: " + e.getMessage());
                }
            }
        } finally {
            injection.dispose();
            connection.dispose();
        }
        assertThat(stalls).as("pulls of %d that went silent", pulls).isEmpty();
    }

    private static long kept() {
        return agent.api().session(MIGRATION, "source").path("counters").path("keptFrames").asLong();
    }
}
