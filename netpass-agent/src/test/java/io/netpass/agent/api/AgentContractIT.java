package io.netpass.agent.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.stream.FinalCountRequest;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentContract;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.PipelinedRequests;
import io.swagger.v3.oas.models.media.Schema;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code openapi/netpass-agent.yaml} against a running agent: the agent serves exactly the contract's operations,
 * the contract's patterns are the ones the code validates with, and error answers of every operation are the ones
 * the contract describes. (Every IT checks the answers it gets through {@link AgentApi} as well.)
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class AgentContractIT {

    private static final Path WORK = Path.of("target", "it-agents", "AgentContractIT");

    private static AgentProcess agent;

    @BeforeAll
    static void start() {
        agent = AgentProcess.start("a", WORK,
                "--management.endpoints.web.exposure.include=health,prometheus,info,mappings");
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            try {
                agent.assertNoLeaks();
            } finally {
                agent.close();
            }
        }
    }

    @Test
    void servesExactlyTheOperationsOfTheContract() {
        JsonNode mappings = JsonMapper.builder().build().readTree(agent.managementGet("/actuator/mappings"));
        Set<String> served = new TreeSet<>();
        for (JsonNode conditions : mappings.findValues("requestMappingConditions")) {
            for (JsonNode pattern : conditions.path("patterns")) {
                if (!pattern.asString().startsWith("/v1/")) {
                    continue;
                }
                for (JsonNode method : conditions.path("methods")) {
                    served.add(method.asString() + " " + AgentContract.normalise(pattern.asString()));
                }
            }
        }
        assertThat(served).as("operations the agent serves under /v1/").isEqualTo(AgentContract.load().operations());
    }

    @Test
    void theContractsPatternsAreTheOnesTheCodeValidatesWith() {
        Map<String, Schema> schemas = AgentContract.load().openApi().getComponents().getSchemas();
        assertThat(AgentContract.load().openApi().getComponents().getParameters().get("MigrationId").getSchema()
                .getPattern()).isEqualTo(ApiPatterns.MIGRATION_ID);
        assertThat(schemas.get("InterfaceName").getPattern()).isEqualTo(ApiPatterns.INTERFACE);
        assertThat(schemas.get("NamespacePath").getPattern()).isEqualTo(ApiPatterns.NAMESPACE);
        assertThat(((Schema<?>) schemas.get("MacList").getItems()).getPattern()).isEqualTo(ApiPatterns.MAC);
        assertThat(((Schema<?>) schemas.get("ArmDestinationRequest").getProperties().get("sourceAgent")).getPattern())
                .isEqualTo(ApiPatterns.AGENT_URL);
        assertThat(((Schema<?>) schemas.get("DiscoveryRequest").getProperties().get("libvirtDomain")).getPattern())
                .isEqualTo(ApiPatterns.LIBVIRT_DOMAIN);
        assertThat(((Schema<?>) schemas.get("KubevirtVmi").getProperties().get("namespace")).getPattern())
                .isEqualTo(ApiPatterns.KUBERNETES_NAMESPACE);
        assertThat(((Schema<?>) schemas.get("KubevirtVmi").getProperties().get("name")).getPattern())
                .isEqualTo(ApiPatterns.KUBERNETES_NAME);
        assertThat(AgentContract.load().openApi().getPaths().get(AgentApi.PEER_FRAMES).getGet().getParameters())
                .filteredOn(parameter -> FinalCountRequest.KEY_HEADER.equals(parameter.getName()))
                .singleElement().extracting(parameter -> parameter.getSchema().getPattern())
                .isEqualTo(FinalCountRequest.KEY_PATTERN);
    }

    /**
     * A request that arrives on a keep-alive connection before the answer to the one before it has ended is answered
     * too. Reactor Netty 1.3.6 stopped reading such a connection after an asynchronous answer (an event) followed
     * by a synchronous one (a status): the next request waited for ever (reactor-netty#4361).
     */
    @Test
    void everyRequestOfAKeepAliveConnectionIsAnsweredHoweverSoonItArrives() {
        PipelinedRequests.Request event = new PipelinedRequests.Request("POST", "/v1/migrations/nope/events",
                "{\"type\":\"DESTINATION_RESUMED\"}");
        PipelinedRequests.Request status = new PipelinedRequests.Request("GET", "/v1/migrations/nope/destination",
                null);
        List<List<PipelinedRequests.Request>> rounds = new ArrayList<>();
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            // The status arrives while the event is still being answered (on another thread), then one more comes.
            rounds.add(List.of(event, status));
            rounds.add(List.of(status));
            expected.addAll(List.of(404, 404, 404));
        }
        assertThat(PipelinedRequests.statuses(agent.apiPort(), agent.controllerToken(), rounds,
                Duration.ofSeconds(10))).as("statuses of the answers, in order").isEqualTo(expected);
    }

    @Test
    void everyExportedMeterIsDocumented() throws Exception {
        String documented = java.nio.file.Files.readString(AgentContract.load().path().getParent()
                .resolveSibling("docs").resolve("metrics.md"));
        List<String> exported = agent.managementGet("/actuator/prometheus").lines()
                .filter(line -> line.startsWith("# TYPE netpass_agent_"))
                .map(line -> line.split(" ")[2].replaceFirst("_max$", ""))
                .distinct().toList();
        assertThat(exported).isNotEmpty();
        assertThat(exported).allSatisfy(name -> assertThat(documented).as("docs/metrics.md").contains("`" + name + "`"));
    }

    @Test
    void errorAnswersOfEveryOperationAreTheContracts() {
        AgentApi api = agent.api();
        AgentApi peer = api.withToken(agent.peerToken());

        assertThat(api.sessions()).isEmpty();
        assertThat(api.request("GET", AgentApi.SESSION, "/v1/migrations/nope/source", null).status()).isEqualTo(404);
        assertThat(api.request("GET", AgentApi.SESSION, "/v1/migrations/nope/sideways", null).status())
                .isEqualTo(400);
        assertThat(api.request("GET", AgentApi.SESSION, "/v1/migrations/-bad/source", null).status()).isEqualTo(400);
        assertThat(api.disarm("nope", "destination").status()).isEqualTo(404);
        assertThat(api.disarm("nope", "upwards").status()).isEqualTo(400);
        assertThat(api.event("nope", "FAILED").status()).isEqualTo(404);
        assertThat(api.event("nope", "EXPLODED").status()).isEqualTo(400);
        assertThat(api.request("POST", AgentApi.EVENTS, "/v1/migrations/nope/events", "{}").status()).isEqualTo(400);
        assertThat(peer.pull("nope", -1).status()).isEqualTo(404);
        assertThat(peer.pull("nope", -2).status()).isEqualTo(400);
        assertThat(peer.release("nope").status()).isEqualTo(404);
        assertThat(peer.release("-bad").status()).isEqualTo(400);
        assertThat(peer.request("GET", AgentApi.PEER_FRAMES, "/v1/peer/migrations/nope/frames?after=x", null)
                .status()).isEqualTo(400);
        String key = "A".repeat(43) + "=";
        assertThat(peer.pull("nope", -1, Map.of(FinalCountRequest.PORT_HEADER, "7070")))
                .as("a final-count port without its key")
                .extracting(AgentApi.Response::status, AgentApi.Response::problem).containsExactly(400, true);
        assertThat(peer.pull("nope", -1, Map.of(FinalCountRequest.KEY_HEADER, key)))
                .as("a final-count key without its port")
                .extracting(AgentApi.Response::status, AgentApi.Response::problem).containsExactly(400, true);
        assertThat(peer.pull("nope", -1, Map.of(FinalCountRequest.PORT_HEADER, "0", FinalCountRequest.KEY_HEADER, key))
                .status()).isEqualTo(400);
        assertThat(peer.pull("nope", -1, Map.of(FinalCountRequest.PORT_HEADER, "7070", FinalCountRequest.KEY_HEADER,
                "short=")).status()).isEqualTo(400);
        assertThat(peer.pull("nope", -1, Map.of(FinalCountRequest.PORT_HEADER, "7070", FinalCountRequest.KEY_HEADER,
                key)).status()).as("both, well-formed: past the headers' checks").isEqualTo(404);
        assertThat(api.armSource("c-1", "tapnothere0", null, java.util.List.of("52:54:00:6e:74:01")).status())
                .isEqualTo(422);
        assertThat(api.discover("{\"libvirtDomain\":\"nothere-contract\"}").status()).isEqualTo(404);
        assertThat(api.discover("{\"qemuPid\":" + agent.pid() + "}").status()).isEqualTo(422);
        assertThat(api.discover("{\"qemuPid\":0}").status()).isEqualTo(400);
        String huge = "{\"tap\":\"" + "t".repeat(100_000) + "\",\"vmMacs\":[\"52:54:00:6e:74:01\"]}";
        // Spring reports a body over spring.codec.max-in-memory-size as unreadable content.
        assertThat(api.put(AgentApi.ARM_SOURCE, "c-2", huge).status()).as("a body over the codec limit")
                .isEqualTo(400);
    }
}
