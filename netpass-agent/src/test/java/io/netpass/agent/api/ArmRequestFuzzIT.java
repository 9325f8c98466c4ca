package io.netpass.agent.api;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SeededTrials;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random arm requests against a running agent: valid ones bent one to three ways (fields missing, null, of the
 * wrong type, huge, unknown; bad MACs, namespace paths, interface names and URLs), malformed JSON, wrong content
 * types. The agent never answers 5xx, answers every error with problem+json the contract describes, and stays up.
 * A failing trial names its seed ({@code -Dnetpass.trials.seed=SEED} runs it alone).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ArmRequestFuzzIT {

    private static final Path WORK = Path.of("target", "it-agents", "ArmRequestFuzzIT");
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final int TRIALS = 400;
    private static final String MAC = "52:54:00:6e:73:01";
    private static final Set<Integer> EXPECTED = Set.of(200, 400, 403, 409, 415, 422);

    private static NamespaceLab lab;
    private static Host host;
    private static AgentProcess agent;
    private static final Map<Integer, Integer> statuses = new TreeMap<>();

    @BeforeAll
    static void start() {
        lab = new NamespaceLab();
        host = lab.host("h");
        host.startVm("tapz0", EthernetAddress.of(MAC));
        // Names the allow-list accepts for interfaces that are not taps.
        host.ip("link", "add", "tapfake0", "type", "veth", "peer", "name", "tapfake1");
        agent = AgentProcess.start("a", WORK);
    }

    @AfterAll
    static void stop() {
        try {
            if (agent != null) {
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
    void anyArmRequestGetsASessionOrAProblemNeverAServerError() {
        AgentApi api = agent.api();
        SeededTrials.run(TRIALS, random -> {
            boolean source = random.nextBoolean();
            String template = source ? AgentApi.ARM_SOURCE : AgentApi.ARM_DESTINATION;
            String migrationId = migrationId(random);
            String path = template.replace("{migrationId}",
                    URLEncoder.encode(migrationId, StandardCharsets.UTF_8).replace("+", "%20"));
            String contentType = random.nextInt(20) == 0
                    ? pick(random, "text/plain", "application/xml", "application/x-www-form-urlencoded")
                    : "application/json";
            String body = random.nextInt(6) == 0 ? malformed(random, source) : JSON.writeValueAsString(
                    mutate(random, base(source)));

            AgentApi.Response response = api.request("PUT", template, path, body, contentType);

            synchronized (statuses) {
                statuses.merge(response.status(), 1, Integer::sum);
            }
            assertThat(response.status()).as("%s %s with %s → %s", path, contentType, abbreviate(body), response)
                    .isIn(EXPECTED);
            if (response.status() >= 400) {
                assertThat(response.problem()).as("problem+json: %s", response).isTrue();
                assertThat(response.json().path("status").asInt()).isEqualTo(response.status());
            } else {
                JsonNode session = response.json();
                assertThat(api.disarm(session.path("migrationId").asString(), session.path("role").asString())
                        .status()).isEqualTo(204);
            }
            assertThat(agent.alive()).as("agent alive").isTrue();
        });
        System.out.println("arm fuzzing, statuses: " + statuses);
        assertThat(api.sessions()).as("sessions left armed").isEmpty();
        assertThat(agent.managementGet("/actuator/health")).contains("UP");
        assertThat(agent.logText()).as("the agent logged no unexpected error").doesNotContain("unexpected error");
        assertThat(statuses.keySet()).as("the trials reached arming as well as every kind of refusal")
                .contains(200, 400, 403, 422);
    }

    private static Map<String, Object> base(boolean source) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("tap", "tapz0");
        body.put("namespace", host.namespace().path().toString());
        body.put("vmMacs", List.of(MAC));
        if (!source) {
            body.put("sourceAgent", "http://127.0.0.1:1");
        }
        return body;
    }

    private static String migrationId(SplittableRandom random) {
        return switch (random.nextInt(12)) {
            case 0 -> pick(random, "-leading-dash", "a b", "x".repeat(65), "ünïcode", "semi;colon", "q?x", "%", "*");
            default -> "fz-" + random.nextInt(3);
        };
    }

    private static Map<String, Object> mutate(SplittableRandom random, Map<String, Object> body) {
        int mutations = random.nextInt(4);
        for (int i = 0; i < mutations; i++) {
            List<String> fields = new ArrayList<>(List.of("tap", "namespace", "vmMacs", "sourceAgent"));
            String field = fields.get(random.nextInt(fields.size()));
            switch (random.nextInt(9)) {
                case 0 -> body.remove(field);
                case 1 -> body.put(field, null);
                case 2 -> body.put(field, wrongType(random));
                case 3 -> body.put(field, "x".repeat(random.nextBoolean() ? 300 : 100_000));
                case 4 -> body.put("vmMacs", badMacs(random));
                case 5 -> body.put("namespace", badNamespace(random));
                case 6 -> body.put("tap", badInterface(random));
                case 7 -> body.put("sourceAgent", badUrl(random));
                default -> body.put(pick(random, "extra", "vmMac", "Tap", "namespace ", "__proto__"),
                        wrongType(random));
            }
        }
        return body;
    }

    private static Object wrongType(SplittableRandom random) {
        return switch (random.nextInt(8)) {
            case 0 -> 123;
            case 1 -> -1.5e300;
            case 2 -> true;
            case 3 -> Map.of("nested", List.of(1, 2));
            case 4 -> List.of();
            case 5 -> List.of(1, "two", List.of());
            case 6 -> Long.MAX_VALUE;
            default -> "";
        };
    }

    private static Object badMacs(SplittableRandom random) {
        List<String> seventeen = new ArrayList<>();
        for (int i = 0; i < 17; i++) {
            seventeen.add(String.format("52:54:00:00:00:%02x", i));
        }
        return switch (random.nextInt(9)) {
            case 0 -> List.of("zz:zz:zz:zz:zz:zz");
            case 1 -> List.of("01:02:03:04:05");
            case 2 -> List.of();
            case 3 -> seventeen;
            case 4 -> java.util.Arrays.asList((String) null);
            case 5 -> List.of("01-02-03-04-05-06");
            case 6 -> List.of("01:02:03:04:05:06:07");
            case 7 -> MAC;
            default -> List.of(" " + MAC);
        };
    }

    private static String badNamespace(SplittableRandom random) {
        return pick(random, "relative/path", "/run/netns/../../etc", "/proc/1/ns/net", "/proc/self/ns/net",
                "/dev/null", "/run/netns/does-not-exist", "/etc/passwd", "/run/netns/" + "a".repeat(64),
                "/run/netns/" + "a".repeat(65), "/run/netns/x\u0000y", "/", "//", "/run/netns/.", "/run/netns/..",
                "/run/netns/ünï", "/proc/999999999/ns/net", "/run/netns", "/run/netns/np-" + "\\");
    }

    private static String badInterface(SplittableRandom random) {
        return pick(random, "eth0", "tap", "tapnothere0", "tap0000000000000000", "tap-../x", "", "tap z", "lo",
                Host.BRIDGE, "vnet0", "tapfake0", "macvtap0", "TAPZ0", "tapz0\n", "-tap");
    }

    private static String badUrl(SplittableRandom random) {
        return pick(random, "ftp://x", "http://", "http://[::1", "http://a:99999", "javascript:alert(1)",
                "http://127.0.0.1:1/path", "http://user@host", "http://" + "a".repeat(600), "HTTP://X",
                "http://[zz]:80", "http://127.0.0.1:65536", "https://[::1]:7070/", "http://-:1", "http://::::");
    }

    private static String malformed(SplittableRandom random, boolean source) {
        String valid = JSON.writeValueAsString(base(source));
        return switch (random.nextInt(12)) {
            case 0 -> "";
            case 1 -> "null";
            case 2 -> "[]";
            case 3 -> "123";
            case 4 -> "\"text\"";
            case 5 -> valid.substring(0, random.nextInt(valid.length()));
            case 6 -> valid + "}";
            case 7 -> "[".repeat(5_000) + "]".repeat(5_000);
            case 8 -> "{\"tap\":\"tapz0\",\"tap\":\"tapz1\",\"vmMacs\":[\"" + MAC + "\"]}";
            case 9 -> "\uFEFF" + valid;
            case 10 -> "{\"vmMacs\":[" + "\"" + MAC + "\",".repeat(20_000) + "\"" + MAC + "\"]}";
            default -> {
                StringBuilder noise = new StringBuilder();
                int length = random.nextInt(200);
                for (int i = 0; i < length; i++) {
                    noise.append((char) random.nextInt(0x20, 0x7f));
                }
                yield noise.toString();
            }
        };
    }

    private static String pick(SplittableRandom random, String... choices) {
        return choices[random.nextInt(choices.length)];
    }

    private static String abbreviate(String text) {
        return text.length() <= 300 ? text : text.substring(0, 300) + "… (" + text.length() + " chars)";
    }
}
