package io.netpass.agent.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.TapCounters;
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
 * Who may arm and pull: without a token, with an unknown one, or with the other role's, arming and pulling are
 * refused with 401/403 problem+json, nothing gets armed, released or injected, and the taps' counters stay put.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AgentSecurityIT {

    private static final Path WORK = Path.of("target", "it-agents", "AgentSecurityIT");
    private static final EthernetAddress MAC = EthernetAddress.of("52:54:00:6e:72:01");
    private static final String STRANGER_PEER_TOKEN = "not-the-fleet-token";

    private static NamespaceLab lab;
    private static Host host;
    private static Client client;
    private static FakeVm sourceVm;
    private static FakeVm destinationVm;
    private static AgentProcess agent;
    /** An agent whose peer token the first one does not know. */
    private static AgentProcess stranger;

    @BeforeAll
    static void start() throws Exception {
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", WORK));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> {
            try {
                Path strangerPeer = Files.createDirectories(WORK).resolve("stranger-peer.token");
                Files.writeString(strangerPeer, STRANGER_PEER_TOKEN + "\n");
                return AgentProcess.start("stranger", WORK,
                        "--netpass.agent.security.peer-token-file=" + strangerPeer.toAbsolutePath(),
                        "--netpass.agent.forwarding.reconnect-window=2s");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        lab = new NamespaceLab();
        host = lab.host("h");
        client = lab.client("cl", host);
        sourceVm = host.startVm("taps0", MAC);
        destinationVm = host.startVm("tapd0", EthernetAddress.of("52:54:00:6e:72:02"));
        host.ip("link", "set", "tapd0", "nomaster");
        sourceVm.announce();
        agent = a.get(2, TimeUnit.MINUTES);
        stranger = b.get(2, TimeUnit.MINUTES);
    }

    @AfterAll
    static void stop() {
        try {
            AgentProcess.closeCheckingLeaks(agent, stranger);
        } finally {
            if (lab != null) {
                lab.close();
            }
        }
    }

    @Test
    void armingWithoutTheControllersTokenIsRefusedAndArmsNothing() {
        TapCounters sourceBefore = counters("taps0");
        TapCounters destinationBefore = counters("tapd0");
        int destinationReadBefore = destinationVm.readFrames().size();
        String namespace = host.namespace().path().toString();
        record Caller(String who, @Nullable String token, int status) {
        }
        for (Caller caller : List.of(new Caller("no token", null, 401),
                new Caller("unknown token", "guess", 401),
                new Caller("empty token", "", 401),
                new Caller("a peer agent", agent.peerToken(), 403),
                new Caller("another agent's controller", stranger.controllerToken(), 401))) {
            AgentApi api = agent.api().withToken(caller.token());
            AgentApi.Response source = api.armSource("m-sec", "taps0", namespace, List.of(MAC.toString()));
            AgentApi.Response destination = api.armDestination("m-sec", "tapd0", namespace,
                    List.of(MAC.toString()), agent.baseUri());
            AgentApi.Response event = api.event("m-sec", "DESTINATION_RESUMED");
            for (AgentApi.Response response : List.of(source, destination, event)) {
                assertThat(response.status()).as("%s: %s", caller.who(), response).isEqualTo(caller.status());
                assertThat(response.problem()).as("%s: %s", caller.who(), response).isTrue();
                assertThat(response.json().path("status").asInt()).isEqualTo(caller.status());
            }
        }
        assertThat(agent.api().withToken(null).request("GET", AgentApi.SESSIONS, AgentApi.SESSIONS, null).status())
                .isEqualTo(401);
        assertThat(agent.api().sessions()).as("sessions after refused arms").isEmpty();
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        assertThat(counters("taps0")).isEqualTo(sourceBefore);
        assertThat(counters("tapd0")).isEqualTo(destinationBefore);
        assertThat(destinationVm.readFrames()).hasSize(destinationReadBefore);
    }

    @Test
    void pullingWithoutAPeersTokenIsRefusedAndReleasesAndInjectsNothing() throws Exception {
        String namespace = host.namespace().path().toString();
        AgentApi controller = agent.api();
        assertThat(controller.armSource("m-pull", "taps0", namespace, List.of(MAC.toString())).status())
                .isEqualTo(200);
        sourceVm.pause();
        try (FrameSender sender = client.sender()) {
            sender.send(client.trafficTo(MAC), 0, 50);
        }
        awaitKept(controller, 50);

        for (var refused : List.of(new Object[] {null, 401}, new Object[] {"guess", 401},
                new Object[] {agent.controllerToken(), 403}, new Object[] {STRANGER_PEER_TOKEN, 401})) {
            AgentApi.Response pull = agent.api().withToken((String) refused[0]).pull("m-pull", -1);
            assertThat(pull.status()).as("pull with %s: %s", refused[0], pull).isEqualTo(refused[1]);
            assertThat(pull.problem()).isTrue();
        }

        // A destination agent whose peer token the source does not accept pulls in vain.
        TapCounters destinationBefore = counters("tapd0");
        int destinationReadBefore = destinationVm.readFrames().size();
        AgentApi strangerController = stranger.api();
        assertThat(strangerController.armDestination("m-pull", "tapd0", namespace,
                List.of(MAC.toString()), agent.baseUri()).status()).isEqualTo(200);
        assertThat(strangerController.event("m-pull", "DESTINATION_RESUMED").status()).isEqualTo(202);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        JsonNode destination = strangerController.session("m-pull", "destination");
        while (!destination.path("state").asString().equals("failed") && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
            try {
                destination = strangerController.session("m-pull", "destination");
            } catch (java.io.UncheckedIOException e) {
                throw new AssertionError("the agent did not answer; threads in " + stranger.dumpThreads(), e);
            }
        }
        assertThat(destination.path("state").asString()).as("%s", destination).isEqualTo("failed");
        assertThat(destination.path("failure").asString()).contains("401");
        assertThat(destination.path("counters").path("injectedFrames").asLong()).isZero();
        assertThat(counters("tapd0")).isEqualTo(destinationBefore);
        assertThat(destinationVm.readFrames()).hasSize(destinationReadBefore);

        JsonNode source = controller.session("m-pull", "source");
        assertThat(source.path("state").asString()).as("%s", source).isEqualTo("armed");
        assertThat(source.path("releasedAt").isNull()).as("released: %s", source).isTrue();
        assertThat(source.path("counters").path("forwardedFrames").asLong()).isZero();
        assertThat(source.path("counters").path("keptFrames").asLong()).isEqualTo(50);

        assertThat(controller.disarm("m-pull", "source").status()).isEqualTo(204);
        assertThat(strangerController.disarm("m-pull", "destination").status()).isEqualTo(204);
        sourceVm.resume();
    }

    private static void awaitKept(AgentApi controller, long frames) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (controller.session("m-pull", "source").path("counters").path("keptFrames").asLong() < frames) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not kept: " + controller.session("m-pull", "source"));
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    private static TapCounters counters(String tap) {
        try (NetworkLinks links = NetworkLinks.open(host.network())) {
            return links.byName(tap).counters();
        }
    }
}
