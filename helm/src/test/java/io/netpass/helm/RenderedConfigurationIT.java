package io.netpass.helm;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tools.jackson.dataformat.yaml.YAMLMapper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The configuration the chart renders, run by the real services: each pod's volumes are laid out in a directory as
 * the kubelet would mount them (the ConfigMap's application.yaml, the Secret's token files, PEM certificates), its
 * environment is applied, and the agent's and the controller's runnable jars must start with it and enforce it:
 * the tokens the chart wires are the ones accepted, TLS is served from the mounted files, static agents are known,
 * the agent registers itself and the controller calls it, over mutual TLS when it is on.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class RenderedConfigurationIT {

    @Test
    void theServicesAcceptExactlyTheTokensTheChartWiresAndKnowTheStaticAgents(@TempDir Path root) {
        List<HasMetadata> objects = NetpassChart.objects(NetpassChart.DIRECTORY.resolve("ci/scheduling-values.yaml"));
        PodSpec agent = NetpassChart.only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        PodSpec controller = NetpassChart.only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        RenderedPod.Tokens tokens = RenderedPod.Tokens.random();
        try (RenderedPod agentService = RenderedPod.start(RenderedPod.jar("netpass.agent.jar"), agent, objects, root.resolve("agent"),
                tokens, null);
                RenderedPod controllerService = RenderedPod.start(RenderedPod.jar("netpass.controller.jar"), controller, objects,
                        root.resolve("controller"), tokens, null)) {
            HttpClient http = HttpClient.newHttpClient();
            assertThat(agentService.get(http, "/v1/sessions", tokens.controller())).isEqualTo(200);
            assertThat(agentService.get(http, "/v1/sessions", tokens.caller())).isEqualTo(401);
            assertThat(controllerService.get(http, "/v1/agents", tokens.caller())).isEqualTo(200);
            assertThat(controllerService.get(http, "/v1/agents", tokens.peer())).isEqualTo(401);
            assertThat(controllerService.body(http, "/v1/agents", tokens.caller()))
                    .contains("\"hv-1\"", "http://10.0.0.11:7070", "\"hv-2\"");
        }
    }

    @Test
    void withTlsTheAgentRegistersOverMutualTlsAndTheControllerCallsItBack(@TempDir Path root) {
        List<HasMetadata> objects = NetpassChart.objects(NetpassChart.DIRECTORY.resolve("ci/tls-values.yaml"));
        PodSpec agent = NetpassChart.only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        PodSpec controller = NetpassChart.only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        Path pki = RenderedPod.Pki.create(root.resolve("pki"));
        RenderedPod.Tokens tokens = RenderedPod.Tokens.random();
        try (RenderedPod controllerService = RenderedPod.start(RenderedPod.jar("netpass.controller.jar"), controller,
                objects, root.resolve("controller"), tokens, pki)) {
            // The controller Service's DNS name is the cluster's; here the same https URL on loopback.
            URI rendered = URI.create(agentRegistration(objects).get("controller-url").toString());
            assertThat(rendered.getScheme()).isEqualTo("https");
            URI controllerUrl = URI.create(rendered.getScheme() + "://localhost:" + controllerService.api().getPort());
            try (RenderedPod agentService = RenderedPod.start(RenderedPod.jar("netpass.agent.jar"), agent, objects,
                    root.resolve("agent"), tokens, pki,
                    List.of("--netpass.agent.registration.controller-url=" + controllerUrl))) {
                HttpClient http = HttpClient.newBuilder().sslContext(RenderedPod.Pki.context(pki, true)).build();
                // Registered under the node's name, at the pod's address and the port its API listens on, https.
                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(controllerService.body(http,
                        "/v1/agents", tokens.caller())).contains("\"" + RenderedPod.NODE_NAME + "\"",
                        "\"" + agentService.api() + "\""));
                // A newly registered agent's sessions are read at once: the controller's call over mutual TLS.
                await().atMost(Duration.ofSeconds(30)).until(() -> agentCalls(controllerService, "success") > 0);
                assertThat(agentCalls(controllerService, "unreachable")).isZero();
                assertThat(agentCalls(controllerService, "error")).isZero();
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> agentRegistration(List<HasMetadata> objects) {
        ConfigMap config = objects.stream().filter(o -> o instanceof ConfigMap
                && o.getMetadata().getName().equals("np-netpass-agent")).map(ConfigMap.class::cast).findFirst()
                .orElseThrow();
        Map<String, Object> yaml = YAMLMapper.builder().build().readValue(config.getData().get("application.yaml"),
                Map.class);
        return (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>) yaml.get("netpass")).get("agent"))
                .get("registration");
    }

    /** How many list-sessions calls the controller made to agents with {@code outcome}. */
    private static double agentCalls(RenderedPod controller, String outcome) {
        return Pattern.compile("(?m)^netpass_controller_agent_calls_seconds_count\\{([^}]*)} (\\S+)$")
                .matcher(controller.metrics()).results()
                .filter(m -> m.group(1).contains("operation=\"list-sessions\"")
                        && m.group(1).contains("outcome=\"" + outcome + "\""))
                .mapToDouble(m -> Double.parseDouble(m.group(2))).sum();
    }

    @Test
    void withTlsBothApisServeTheMountedCertificateAndDemandAClientCertificate(@TempDir Path root) {
        List<HasMetadata> objects = NetpassChart.objects(NetpassChart.DIRECTORY.resolve("ci/tls-values.yaml"));
        PodSpec agent = NetpassChart.only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        PodSpec controller = NetpassChart.only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        Path pki = RenderedPod.Pki.create(root.resolve("pki"));
        RenderedPod.Tokens tokens = RenderedPod.Tokens.random();
        try (RenderedPod agentService = RenderedPod.start(RenderedPod.jar("netpass.agent.jar"), agent, objects, root.resolve("agent"),
                tokens, pki);
                RenderedPod controllerService = RenderedPod.start(RenderedPod.jar("netpass.controller.jar"), controller, objects,
                        root.resolve("controller"), tokens, pki)) {
            HttpClient withCertificate = HttpClient.newBuilder().sslContext(RenderedPod.Pki.context(pki, true)).build();
            HttpClient withoutCertificate = HttpClient.newBuilder().sslContext(RenderedPod.Pki.context(pki, false)).build();
            assertThat(agentService.get(withCertificate, "/v1/sessions", tokens.controller())).isEqualTo(200);
            assertThat(controllerService.get(withCertificate, "/v1/agents", tokens.caller())).isEqualTo(200);
            for (RenderedPod service : List.of(agentService, controllerService)) {
                assertThat(service.refused(withoutCertificate)).as("%s without a client certificate", service)
                        .isTrue();
                assertThat(service.answersPlainHttp()).as("%s over plain HTTP", service).isFalse();
            }
        }
    }

}
