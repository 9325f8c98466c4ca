package io.netpass.controller.migration;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import org.jspecify.annotations.Nullable;

import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;
import io.netpass.controller.testing.SimulatedAgent;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Migrations created with {@code discover}: both agents find the VM's taps, the controller pairs them by MAC. */
class MigrationDiscoveryIT {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String MAC_A = "52:54:00:0d:15:0a";
    private static final String MAC_B = "52:54:00:0d:15:0b";

    @TempDir
    Path directory;

    private ControllerLab lab;

    @BeforeEach
    void lab() throws Exception {
        lab = new ControllerLab(directory);
        // The same guest NICs, in another order and on other taps at the destination.
        lab.source.runs("web-1", 4100, List.of(nic(MAC_A, "vnet3", "/proc/4100/ns/net"),
                nic(MAC_B, "vnet4", "/proc/4100/ns/net")));
        lab.destination.runs("web-1", 5200, List.of(nic(MAC_B.toUpperCase(), "vnet8", "/run/netns/host-b"),
                nic(MAC_A, "vnet7", "/run/netns/host-b")));
    }

    @AfterEach
    void close() {
        List<String> violations = lab.recorder().violations();
        lab.close();
        assertThat(violations).as("responses that break the contract").isEmpty();
    }

    @Test
    void bothAgentsDiscoverTheVmAndEveryNicIsArmedOnItsOwnTaps() throws Exception {
        lab.start();
        Map<String, Object> request = discovering("d-1", "web-1", lab.source);
        assertThat(lab.contract().checkSchema("CreateMigrationRequest", JSON.writeValueAsString(request))).isEmpty();

        assertThat(lab.create(request).status()).isEqualTo(202);
        JsonNode armed = lab.awaitState("d-1", "ARMED");

        assertThat(lab.source.requests()).contains("POST /v1/discovery");
        assertThat(lab.destination.requests()).contains("POST /v1/discovery");
        assertSides("d-1.0", "vnet3", "/proc/4100/ns/net", "vnet7", "/run/netns/host-b", MAC_A);
        assertSides("d-1.1", "vnet4", "/proc/4100/ns/net", "vnet8", "/run/netns/host-b", MAC_B);
        assertThat(armed.path("nics")).hasSize(2);
        assertThat(armed.path("nics").get(1).path("destinationTap").asString()).isEqualTo("vnet8");
        assertThat(armed.path("discover").path("libvirtDomain").asString()).isEqualTo("web-1");

        lab.event("d-1", "DESTINATION_RESUMED");
        lab.awaitFinal("d-1", "COMPLETED");
    }

    @Test
    void macsInTheRequestRestrictTheNicsAndAKubevirtVmiIsFoundByItsDomainName() throws Exception {
        lab.source.runs("tenant-a_vmi-1", 4101, List.of(nic(MAC_A, "tap11", "/proc/4101/ns/net"),
                nic(MAC_B, "tap12", "/proc/4101/ns/net")));
        lab.destination.runs("tenant-a_vmi-1", 5201, List.of(nic(MAC_A, "tap21", "/proc/5201/ns/net"),
                nic(MAC_B, "tap22", "/proc/5201/ns/net")));
        lab.start();
        Map<String, Object> request = discovering("d-2", "tenant-a/vmi-1", lab.source);
        request.put("discover", Map.of("kubevirtVmi", Map.of("namespace", "tenant-a", "name", "vmi-1")));
        request.put("nics", List.of(Map.of("mac", MAC_B)));
        assertThat(lab.contract().checkSchema("CreateMigrationRequest", JSON.writeValueAsString(request))).isEmpty();

        assertThat(lab.create(request).status()).isEqualTo(202);
        JsonNode armed = lab.awaitState("d-2", "ARMED");

        assertThat(armed.path("nics")).hasSize(1);
        assertSides("d-2.0", "tap12", "/proc/4101/ns/net", "tap22", "/proc/5201/ns/net", MAC_B);
        assertThat(lab.source.session("d-2.1", "source")).isEmpty();
    }

    @Test
    void aDiscoveryThatFailsDegradesTheMigrationWithTheReasonAndArmsNothing() throws Exception {
        lab.start();
        Map<String, Object> request = discovering("d-3", "web-2", lab.source);
        request.put("discover", Map.of("libvirtDomain", "web-2"));

        assertThat(lab.create(request).status()).isEqualTo(202);
        JsonNode degraded = lab.awaitFinal("d-3", "DEGRADED");

        assertThat(degraded.path("reason").asString()).startsWith("discovery failed").contains("web-2")
                .contains("HTTP 404");
        assertThat(lab.source.sessionCount()).isZero();
        assertThat(lab.destination.sessionCount()).isZero();
        assertThat(lab.source.requests()).noneMatch(call -> call.startsWith("PUT "));
    }

    @Test
    void aNicMissingOnTheDestinationDegradesTheMigration() throws Exception {
        lab.start();
        Map<String, Object> request = discovering("d-4", "web-1", lab.source);
        request.put("nics", List.of(Map.of("mac", "52:54:00:0d:15:0c")));

        lab.create(request);

        assertThat(lab.awaitFinal("d-4", "DEGRADED").path("reason").asString())
                .contains("no tap NIC with MAC 52:54:00:0d:15:0c");
    }

    @Test
    void aSlowDiscoveryDegradesWithinTheAgentCallTimeoutAndNeverHoldsUpTheApi() throws Exception {
        lab.start();
        lab.destination.answerAfter(Duration.ofSeconds(3));
        long started = System.nanoTime();

        RunningController.Response created = lab.create(discovering("d-5", "web-1", lab.source));

        assertThat(created.status()).isEqualTo(202);
        JsonNode degraded = lab.awaitFinal("d-5", "DEGRADED");
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(3));
        assertThat(degraded.path("reason").asString()).contains("discover").contains("no answer within");
    }

    @Test
    void withoutASourceAgentTheKnownAgentThatRunsTheVmIsTheSource() throws Exception {
        lab.addStoppedAgent("host-gone");
        lab.start();
        Map<String, Object> request = discovering("d-6", "web-1", null);

        RunningController.Response created = lab.create(request);

        assertThat(created.status()).as(created.body()).isEqualTo(202);
        assertThat(created.json().path("sourceAgent").asString()).isEqualTo(lab.source.baseUrl().toString());
        lab.awaitState("d-6", "ARMED");
        assertSides("d-6.0", "vnet3", "/proc/4100/ns/net", "vnet7", "/run/netns/host-b", MAC_A);

        Map<String, Object> nowhere = discovering("d-7", "web-9", null);
        nowhere.put("discover", Map.of("libvirtDomain", "web-9"));
        RunningController.Response refused = lab.create(nowhere);
        assertThat(refused.status()).isEqualTo(422);
        assertThat(refused.json().path("type").asString()).isEqualTo("urn:netpass:problem:source-agent-not-found");
    }

    @Test
    void inconsistentRequestsAreRefusedAsProblems() throws Exception {
        lab.start();
        Map<String, Object> noNics = lab.migration("v-1", "vm-v1");
        noNics.remove("nics");
        Map<String, Object> noSource = lab.migration("v-2", "vm-v2");
        noSource.remove("sourceAgent");
        Map<String, Object> tapsWithDiscover = lab.migration("v-3", "vm-v3");
        tapsWithDiscover.put("discover", Map.of("libvirtDomain", "web-1"));
        Map<String, Object> twoLocators = discovering("v-4", "vm-v4", lab.source);
        twoLocators.put("discover", Map.of("libvirtDomain", "web-1",
                "kubevirtVmi", Map.of("namespace", "a", "name", "b")));
        Map<String, Object> badVmi = discovering("v-5", "vm-v5", lab.source);
        badVmi.put("discover", Map.of("kubevirtVmi", Map.of("namespace", "Not_A_Label", "name", "b")));

        for (Map<String, Object> request : List.of(noNics, noSource, tapsWithDiscover, twoLocators, badVmi)) {
            RunningController.Response refused = lab.create(request);
            assertThat(refused.status()).as(request.toString()).isEqualTo(400);
            assertThat(refused.json().path("type").asString()).isEqualTo("urn:netpass:problem:invalid-request");
        }
        assertThat(lab.source.sessionCount()).isZero();
    }

    private Map<String, Object> discovering(String id, String vm, @Nullable SimulatedAgent source) {
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("id", id);
        request.put("vm", vm);
        if (source != null) {
            request.put("sourceAgent", source.baseUrl().toString());
        }
        request.put("destinationAgent", lab.destination.baseUrl().toString());
        request.put("discover", Map.of("libvirtDomain", "web-1"));
        return request;
    }

    private void assertSides(String session, String sourceTap, String sourceNamespace, String destinationTap,
            String destinationNamespace, String mac) {
        SimulatedAgent.Session source = lab.source.session(session, "source").orElseThrow();
        SimulatedAgent.Session destination = lab.destination.session(session, "destination").orElseThrow();
        assertThat(source.tap()).isEqualTo(sourceTap);
        assertThat(source.namespace()).isEqualTo(sourceNamespace);
        assertThat(source.vmMacs()).containsExactly(mac);
        assertThat(destination.tap()).isEqualTo(destinationTap);
        assertThat(destination.namespace()).isEqualTo(destinationNamespace);
    }

    private static Map<String, String> nic(String mac, String tap, String namespace) {
        return Map.of("mac", mac, "tap", tap, "namespace", namespace);
    }
}
