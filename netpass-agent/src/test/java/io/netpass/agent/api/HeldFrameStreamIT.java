package io.netpass.agent.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

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
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A frame stream the destination opens in advance ({@code hold=true}) is answered only once the source releases:
 * on the destination's release request, or when the moved VM's own frame reaches the old tap. Either way it then
 * carries every kept frame, once, in order.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HeldFrameStreamIT {

    private static final Path WORK = Path.of("target", "it-agents", "HeldFrameStreamIT");
    private static final int KEPT = 300;
    private static final Duration UNANSWERED = Duration.ofMillis(500);

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
    void aHeldStreamIsAnsweredOnTheDestinationsReleaseRequestWithEveryKeptFrame() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:75:01");
        try (FakeVm vm = keepFramesFor("m-held-request", "taph0", mac)) {
            CompletableFuture<List<Long>> pulled = pullHeld("m-held-request");

            LockSupport.parkNanos(UNANSWERED.toNanos());
            assertThat(pulled).as("answered before any release").isNotDone();
            assertThat(source("m-held-request").path("state").asString()).isEqualTo("armed");

            assertThat(agent.api().withToken(agent.peerToken()).release("m-held-request").status()).isEqualTo(204);
            assertThat(pulled.join()).hasSize(KEPT).isSorted().doesNotHaveDuplicates();
            assertThat(source("m-held-request").path("state").asString()).isEqualTo("forwarding");
            agent.api().disarm("m-held-request", "source");
        }
    }

    @Test
    void aHeldStreamIsAnsweredWhenTheMovedVmsOwnFrameReachesTheOldTap() {
        EthernetAddress mac = EthernetAddress.of("52:54:00:6e:75:02");
        try (FakeVm vm = keepFramesFor("m-held-flood", "taph1", mac);
                FakeVm moved = host.startVm("taph2", mac)) {
            CompletableFuture<List<Long>> pulled = pullHeld("m-held-flood");
            LockSupport.parkNanos(UNANSWERED.toNanos());
            assertThat(pulled).as("answered before the VM moved").isNotDone();

            // The VM resumes elsewhere on the same network: its announcement floods to the old tap too.
            moved.announce();

            List<Long> sequences = pulled.join();
            assertThat(sequences).hasSize(KEPT).isSorted().doesNotHaveDuplicates();
            JsonNode source = source("m-held-flood");
            assertThat(source.path("counters").path("forwardedFrames").asLong()).as("%s", source).isEqualTo(KEPT);
            agent.api().disarm("m-held-flood", "source");
        }
    }

    /** A paused VM on {@code tap}, armed as a migration's source, with {@value #KEPT} frames kept for it. */
    private static FakeVm keepFramesFor(String migrationId, String tap, EthernetAddress mac) {
        FakeVm vm = host.startVm(tap, mac);
        vm.announce();
        AgentApi controller = agent.api();
        assertThat(controller.armSource(migrationId, tap, host.namespace().path().toString(),
                List.of(mac.toString())).status()).isEqualTo(200);
        vm.pause();
        try (FrameSender sender = client.sender()) {
            sender.send(client.trafficTo(mac), 0, KEPT);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (source(migrationId).path("counters").path("keptFrames").asLong() < KEPT) {
            assertThat(System.nanoTime()).as("kept frames of %s", migrationId).isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        return vm;
    }

    /** The sequences of the first {@value #KEPT} frames of a held stream, once it is answered. */
    private static CompletableFuture<List<Long>> pullHeld(String migrationId) {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        return peers.frames(agent.baseUri(), migrationId, FrameStreamDecoder.NO_SEQUENCE, true)
                .flatMapMany(PeerClient.FrameStreamResponse::body)
                .concatMapIterable(chunk -> decoder.decode(chunk))
                .map(ForwardedFrame::sequence)
                .take(KEPT)
                .collectList()
                .timeout(Duration.ofSeconds(30))
                .toFuture();
    }

    private static JsonNode source(String migrationId) {
        return agent.api().session(migrationId, "source");
    }
}
