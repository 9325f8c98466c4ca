package io.netpass.helm;

import java.net.http.HttpClient;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The configuration the chart renders, run by the real services: each pod's volumes are laid out in a directory as
 * the kubelet would mount them (the ConfigMap's application.yaml, the Secret's token files, PEM certificates), its
 * environment is applied, and the agent's and the controller's runnable jars must start with it and enforce it:
 * the tokens the chart wires are the ones accepted, TLS is served from the mounted files, static agents are known.
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
