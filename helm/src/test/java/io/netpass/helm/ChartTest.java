package io.netpass.helm;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathFactory;

import com.marcnuri.helm.LintResult;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The chart lints and renders cleanly, its manifests are valid Kubernetes objects, and they mean what they should. */
class ChartTest {

    private static final YAMLMapper YAML = YAMLMapper.builder().build();

    /** The defaults, then every {@code ci/*-values.yaml}. */
    static Stream<Arguments> valueSets() {
        return Stream.concat(Stream.of(Arguments.of("defaults", null)),
                NetpassChart.valuesFiles().stream().map(f -> Arguments.of(f.getFileName().toString(), f)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void lintsCleanlyInStrictMode(String name, Path values, @TempDir Path scratch) {
        LintResult lint = NetpassChart.lint(values, scratch);
        assertThat(lint.isFailed()).as("%s", lint.getMessages()).isFalse();
        assertThat(lint.getMessages()).as("warnings fail --strict").noneMatch(m -> m.contains("[WARNING]")
                || m.contains("[ERROR]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void rendersOnlyObjectsTheKubernetesApiAcceptsWithoutUnknownFields(String name, Path values) {
        List<HasMetadata> objects = objects(values);
        assertThat(objects).isNotEmpty();
        assertThat(objects).extracting(o -> o.getKind() + "/" + o.getMetadata().getName())
                .as("names unique per kind").doesNotHaveDuplicates();
        for (HasMetadata object : objects) {
            assertThat(object.getMetadata().getLabels()).containsEntry("app.kubernetes.io/part-of", "netpass")
                    .containsEntry("app.kubernetes.io/instance", NetpassChart.RELEASE);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void notesTellHowToReachTheControllerWithTheCallerToken(String name, Path values) {
        String notes = NetpassChart.installNotes(values);
        assertThat(notes).contains("NOTES:", "kubectl -n virt rollout status daemonset/np-netpass-agent",
                "port-forward service/np-netpass-controller", "{.data.caller\\.token}");
        String secret = values != null && values.toString().contains("tls") ? "netpass-tokens" : "np-netpass-tokens";
        assertThat(notes).contains("get secret " + secret);
        if (values == null) {
            assertThat(notes).contains("Agents register themselves with http://np-netpass-controller.virt.svc:7080");
        } else if (values.toString().contains("kubevirt")) {
            assertThat(notes).contains("ready pods of DaemonSet np-netpass-agent",
                    "example.org/lossless-migration=\"true\" (all VMs", "as netpass.io/report");
        }
    }

    @Test
    void aFieldTheApiDoesNotKnowIsRejected() {
        JsonNode daemonSet = onlyDocument(NetpassChart.render(null), "DaemonSet");
        ((tools.jackson.databind.node.ObjectNode) daemonSet.path("spec").path("template").path("spec"))
                .put("hostPid", true);
        assertThatThrownBy(() -> KubernetesModel.read(daemonSet)).hasMessageContaining("hostPid");
    }

    @Test
    void theAgentRunsInTheHostsNetworkAndPidNamespacesWithOnlyTheCapabilitiesItNeeds() {
        PodSpec pod = only(objects(null), DaemonSet.class).getSpec().getTemplate().getSpec();
        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getHostPID()).isTrue();
        assertThat(pod.getHostIPC()).isNull();
        assertThat(pod.getDnsPolicy()).isEqualTo("ClusterFirstWithHostNet");
        assertThat(pod.getAutomountServiceAccountToken()).isFalse();
        Container agent = pod.getContainers().getFirst();
        assertThat(agent.getImage()).isEqualTo("netpass/agent:" + projectVersion());
        assertThat(agent.getSecurityContext().getPrivileged()).isFalse();
        assertThat(agent.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(agent.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(agent.getSecurityContext().getCapabilities().getAdd())
                .containsExactlyInAnyOrder("NET_RAW", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "SYS_NICE");
        // The API server refuses allowPrivilegeEscalation: false together with CAP_SYS_ADMIN.
        assertThat(agent.getSecurityContext().getAllowPrivilegeEscalation()).isNull();
        assertThat(agent.getPorts())
                .extracting(port -> port.getName() + "=" + port.getContainerPort() + "/" + port.getProtocol())
                .containsExactly("api=7070/TCP", "management=9091/TCP", "final-count=7070/UDP");
    }

    @Test
    void theAgentMountsHostNamespacesReadOnlyWhereOrchestratorsNameThem() {
        PodSpec pod = only(objects(null), DaemonSet.class).getSpec().getTemplate().getSpec();
        Container agent = pod.getContainers().getFirst();
        assertThat(agent.getVolumeMounts()).filteredOn(m -> !m.getName().equals("tmp")).hasSize(3)
                .allMatch(m -> Boolean.TRUE.equals(m.getReadOnly()), "read-only");
        VolumeMount netns = mount(agent, "host-netns");
        assertThat(netns.getMountPath()).isEqualTo("/run/netns");
        assertThat(netns.getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(volume(pod, "host-netns").getHostPath().getPath()).isEqualTo("/run/netns");
        assertThat(pod.getVolumes()).filteredOn(v -> v.getHostPath() != null).hasSize(1);
    }

    private static VolumeMount mount(Container container, String name) {
        return container.getVolumeMounts().stream().filter(m -> m.getName().equals(name)).findFirst().orElseThrow();
    }

    private static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void theAgentRunsOnVirtualizationNodesOneNodeAtATime() {
        DaemonSet daemonSet = only(objects(null), DaemonSet.class);
        PodSpec pod = daemonSet.getSpec().getTemplate().getSpec();
        assertThat(pod.getNodeSelector()).containsEntry("kubevirt.io/schedulable", "true");
        assertThat(pod.getTolerations()).anyMatch(t -> "Exists".equals(t.getOperator())
                && "NoSchedule".equals(t.getEffect()));
        assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
        assertThat(daemonSet.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
        assertThat(daemonSet.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal())
                .isEqualTo(1);
    }

    @Test
    void customSchedulingValuesReachTheAgentPods() {
        Path values = NetpassChart.DIRECTORY.resolve("ci/scheduling-values.yaml");
        List<HasMetadata> objects = objects(values);
        PodSpec pod = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        assertThat(pod.getNodeSelector()).containsExactly(Map.entry("node-role.example.org/hypervisor", ""));
        assertThat(pod.getTolerations()).extracting(t -> t.getKey()).containsExactly(
                "node-role.example.org/hypervisor", "node.kubernetes.io/unschedulable");
        assertThat(pod.getAffinity().getNodeAffinity()).isNotNull();
        assertThat(pod.getPriorityClassName()).isNull();
        assertThat(pod.getImagePullSecrets()).extracting(s -> s.getName()).containsExactly("regcred");
        assertThat(pod.getContainers().getFirst().getImage()).isEqualTo("registry.example.org/netpass/agent:0.1.0-rc1");
        assertThat(pod.getVolumes()).filteredOn(v -> v.getHostPath() != null).singleElement()
                .as("libvirt's pid files, no host netns directory")
                .satisfies(v -> assertThat(v.getHostPath().getPath()).isEqualTo("/run/libvirt/qemu"));
        VolumeMount libvirt = mount(pod.getContainers().getFirst(), "host-libvirt-run");
        assertThat(libvirt.getMountPath()).isEqualTo("/run/libvirt/qemu");
        assertThat(libvirt.getReadOnly()).isTrue();
        Map<String, Object> agentConfig = applicationYaml(objects, "np-netpass-agent");
        assertThat(path(agentConfig, "netpass.agent.forwarding.deadline")).isEqualTo("5s");
        assertThat(path(agentConfig, "netpass.agent.capture.buffer-capacity")).isEqualTo("256MB");
        Map<String, Object> controllerConfig = applicationYaml(objects, "np-netpass-controller");
        assertThat(path(controllerConfig, "netpass.controller.agents")).isEqualTo(List.of(
                Map.of("name", "hv-1", "base-url", "http://10.0.0.11:7070"),
                Map.of("name", "hv-2", "base-url", "http://10.0.0.12:7070")));
        assertThat(path(controllerConfig, "netpass.controller.coordination.switching-timeout")).isEqualTo("90s");
        assertThat(objects).allMatch(o -> "virtualization".equals(o.getMetadata().getLabels().get("team")));
    }

    @Test
    void eachServiceReadsOnlyItsOwnTokensFromTheSecretItsConfigurationNames() {
        List<HasMetadata> objects = objects(null);
        Secret secret = only(objects, Secret.class);
        assertThat(secret.getData()).containsOnlyKeys("caller.token", "controller.token", "peer.token",
                "registration.token");
        assertThat(secret.getData().values()).allMatch(v -> new String(Base64.getDecoder().decode(v)).strip()
                .length() == 48);

        PodSpec agent = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        assertThat(volume(agent, "tokens").getSecret().getSecretName()).isEqualTo(secret.getMetadata().getName());
        assertThat(volume(agent, "tokens").getSecret().getItems()).extracting(i -> i.getKey())
                .containsExactlyInAnyOrder("controller.token", "peer.token", "registration.token");
        Map<String, Object> agentConfig = applicationYaml(objects, "np-netpass-agent");
        String agentTokens = mount(agent.getContainers().getFirst(), "tokens").getMountPath();
        assertThat(path(agentConfig, "netpass.agent.security.controller-token-file"))
                .isEqualTo(agentTokens + "/controller.token");
        assertThat(path(agentConfig, "netpass.agent.security.peer-token-file")).isEqualTo(agentTokens + "/peer.token");
        assertThat(path(agentConfig, "server.port")).isEqualTo(7070);
        assertThat(path(agentConfig, "management.server.port")).isEqualTo(9091);
        assertThat(path(agentConfig, "netpass.agent.final-count.port")).isEqualTo(7070);

        PodSpec controller = only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        assertThat(volume(controller, "tokens").getSecret().getItems()).extracting(i -> i.getKey())
                .containsExactlyInAnyOrder("caller.token", "controller.token", "registration.token");
        Map<String, Object> controllerConfig = applicationYaml(objects, "np-netpass-controller");
        String controllerTokens = mount(controller.getContainers().getFirst(), "tokens").getMountPath();
        assertThat(path(controllerConfig, "netpass.controller.security.caller-token-file"))
                .isEqualTo(controllerTokens + "/caller.token");
        assertThat(path(controllerConfig, "netpass.controller.security.agent-token-file"))
                .as("the controller presents the token agents accept").isEqualTo(controllerTokens + "/controller.token");
        assertThat(path(controllerConfig, "netpass.controller.security.agent-registration-token-file"))
                .isEqualTo(controllerTokens + "/registration.token");
        assertThat(path(agentConfig, "netpass.agent.registration.token-file"))
                .as("agents present the token the controller accepts from registering agents")
                .isEqualTo(agentTokens + "/registration.token");
        assertThat(path(controllerConfig, "server.port")).isEqualTo(7080);
        assertThat(path(controllerConfig, "management.server.port")).isEqualTo(9092);
        assertThat(path(controllerConfig, "netpass.controller.recovery.state-directory"))
                .isEqualTo(mount(controller.getContainers().getFirst(), "state").getMountPath());
        for (PodSpec pod : List.of(agent, controller)) {
            Container container = pod.getContainers().getFirst();
            assertThat(container.getEnv()).anyMatch(e -> e.getName().equals("SPRING_CONFIG_ADDITIONAL_LOCATION")
                    && e.getValue().equals("optional:file:" + mount(container, "config").getMountPath() + "/"));
        }

        List<HasMetadata> unregistered = NetpassChart.objects(null, "registration.enabled", "false");
        assertThat(volume(only(unregistered, DaemonSet.class).getSpec().getTemplate().getSpec(), "tokens").getSecret()
                .getItems()).extracting(i -> i.getKey()).containsExactlyInAnyOrder("controller.token", "peer.token");
        assertThat(volume(only(unregistered, Deployment.class).getSpec().getTemplate().getSpec(), "tokens")
                .getSecret().getItems()).extracting(i -> i.getKey())
                .containsExactlyInAnyOrder("caller.token", "controller.token");
        assertThat(applicationYaml(unregistered, "np-netpass-agent").get("netpass").toString())
                .doesNotContain("registration");
        assertThat(applicationYaml(unregistered, "np-netpass-controller").get("netpass").toString())
                .doesNotContain("registration");
    }

    @Test
    void agentsRegisterWithTheReleasesControllerServiceNamedAfterTheirNodeAtTheirPodAddress() {
        List<HasMetadata> objects = objects(null);
        Container agent = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        io.fabric8.kubernetes.api.model.Service service = only(objects, io.fabric8.kubernetes.api.model.Service.class);
        Map<String, Object> config = applicationYaml(objects, "np-netpass-agent");
        assertThat(path(config, "netpass.agent.registration.controller-url")).isEqualTo("http://"
                + service.getMetadata().getName() + "." + NetpassChart.NAMESPACE + ".svc:"
                + service.getSpec().getPorts().getFirst().getPort());
        assertThat(path(config, "netpass.agent.registration.agent-name")).isEqualTo("${NODE_NAME}");
        assertThat(fieldRef(agent, "NODE_NAME")).isEqualTo("spec.nodeName");
        assertThat(path(config, "netpass.agent.registration.advertised-url"))
                .as("the port the API listens on").isEqualTo("http://${POD_IP}:${server.port}");
        assertThat(fieldRef(agent, "POD_IP")).as("the node's address with hostNetwork").isEqualTo("status.podIP");
        assertThat(path(config, "netpass.agent.registration.interval")).isEqualTo("10s");

        Map<String, Object> elsewhere = applicationYaml(NetpassChart.objects(null, "controller.enabled", "false",
                "registration.controllerUrl", "https://netpass.example.org"), "np-netpass-agent");
        assertThat(path(elsewhere, "netpass.agent.registration.controller-url"))
                .isEqualTo("https://netpass.example.org");
        assertThatThrownBy(() -> NetpassChart.render(null, "controller.enabled", "false"))
                .hasMessageContaining("registration.controllerUrl");
    }

    private static String fieldRef(Container container, String variable) {
        EnvVar env = container.getEnv().stream().filter(e -> e.getName().equals(variable)).findFirst().orElseThrow();
        return env.getValueFrom().getFieldRef().getFieldPath();
    }

    @Test
    void withTlsEveryCallBetweenTheServicesTrustsTheCaAndPresentsTheServicesCertificate() {
        List<HasMetadata> objects = objects(NetpassChart.DIRECTORY.resolve("ci/tls-values.yaml"));
        Map<String, Object> agent = applicationYaml(objects, "np-netpass-agent");
        Map<String, Object> controller = applicationYaml(objects, "np-netpass-controller");
        assertThat(path(agent, "netpass.agent.peer-tls.bundle")).isEqualTo("netpass");
        assertThat(path(agent, "netpass.agent.registration.tls-bundle")).isEqualTo("netpass");
        assertThat(path(agent, "netpass.agent.registration.controller-url").toString())
                .startsWith("https://np-netpass-controller.virt.svc:");
        assertThat(path(agent, "netpass.agent.registration.advertised-url").toString()).startsWith("https://");
        assertThat(path(controller, "netpass.controller.agent-calls.tls-bundle")).isEqualTo("netpass");
        assertThat(path(controller, "netpass.controller.kubernetes.agent-discovery.scheme")).isEqualTo("https");

        Map<String, Object> plain = applicationYaml(objects(null), "np-netpass-controller");
        assertThat(path(plain, "netpass.controller.kubernetes.agent-discovery.scheme")).isEqualTo("http");
        assertThat(plain.get("netpass").toString()).doesNotContain("tls-bundle");
        assertThat(applicationYaml(objects(null), "np-netpass-agent").get("netpass").toString())
                .doesNotContain("peer-tls", "tls-bundle");
    }

    @Test
    void agentDiscoveryWatchesExactlyTheAgentDaemonSetsPodsAtTheirApiPort() {
        List<HasMetadata> objects = objects(NetpassChart.DIRECTORY.resolve("ci/kubevirt-values.yaml"));
        DaemonSet agents = only(objects, DaemonSet.class);
        Map<String, Object> config = applicationYaml(objects, "np-netpass-controller");
        Map<String, String> selected = Arrays.stream(path(config,
                "netpass.controller.kubernetes.agent-discovery.label-selector").toString().split(","))
                .map(pair -> pair.split("=", 2)).collect(Collectors.toMap(pair -> pair[0], pair -> pair[1]));
        assertThat(selected).isEqualTo(agents.getSpec().getSelector().getMatchLabels());
        assertThat(agents.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(selected);
        assertThat(only(objects, Deployment.class).getSpec().getTemplate().getMetadata().getLabels())
                .as("the controller's own pods are no agents").doesNotContainEntry("app.kubernetes.io/component",
                        "agent");
        assertThat(path(config, "netpass.controller.kubernetes.agent-discovery.enabled")).isEqualTo(true);
        assertThat(path(config, "netpass.controller.kubernetes.agent-discovery.namespace"))
                .isEqualTo(agents.getMetadata().getNamespace());
        assertThat(path(config, "netpass.controller.kubernetes.agent-discovery.port")).isEqualTo(agents.getSpec()
                .getTemplate().getSpec().getContainers().getFirst().getPorts().stream()
                .filter(p -> p.getName().equals("api")).findFirst().orElseThrow().getContainerPort());
        assertThat(path(config, "netpass.controller.kubernetes.agent-discovery.address")).isEqualTo("HOST_IP");
        assertThat(path(config, "netpass.controller.kubernetes.namespace")).isEqualTo(NetpassChart.NAMESPACE);

        assertThat(path(config, "netpass.controller.kubevirt.enabled")).isEqualTo(true);
        assertThat(path(config, "netpass.controller.kubevirt.all-vms")).isEqualTo(true);
        assertThat(path(config, "netpass.controller.kubevirt.opt-in-key")).isEqualTo("example.org/lossless-migration");
        assertThat(path(config, "netpass.controller.kubevirt.resync")).isEqualTo("1m");
        assertThat(path(config, "netpass.controller.kubevirt.report-annotation")).isEqualTo("netpass.io/report");
        assertThat(path(config, "netpass.controller.kubevirt.namespaces")).isEqualTo(List.of());
        assertThat(path(config, "netpass.controller.kubernetes.leader-election.enabled")).isEqualTo(true);
        assertThat(path(config, "netpass.controller.kubernetes.leader-election.lease-name"))
                .isEqualTo("netpass-leader");
        assertThat(path(config, "netpass.controller.kubernetes.leader-election.lease-duration")).isEqualTo("20s");
        assertThat(path(config, "netpass.controller.kubernetes.leader-election.renew-deadline")).isEqualTo("10s");
        assertThat(path(config, "netpass.controller.kubernetes.leader-election.retry-period")).isEqualTo("2s");

        Map<String, Object> defaults = applicationYaml(objects(null), "np-netpass-controller");
        assertThat(path(defaults, "netpass.controller.kubernetes.leader-election.enabled"))
                .as("explicit: the controller's own default elects, which needs the Lease RBAC").isEqualTo(false);
        assertThat(path(defaults, "netpass.controller.kubernetes.agent-discovery.enabled")).isEqualTo(false);
        assertThat(path(defaults, "netpass.controller.kubevirt.enabled")).isEqualTo(false);
    }

    @Test
    void agentDiscoveryReadsTheHostDirectoriesTheDaemonSetMounts() {
        List<HasMetadata> defaults = objects(null);
        Container agent = only(defaults, DaemonSet.class).getSpec().getTemplate().getSpec().getContainers()
                .getFirst();
        Map<String, Object> config = applicationYaml(defaults, "np-netpass-agent");
        assertThat(path(config, "netpass.agent.discovery.netns-directory"))
                .isEqualTo(mount(agent, "host-netns").getMountPath());
        assertThat(path(config, "netpass.agent.discovery.proc")).as("the host's, with hostPID").isEqualTo("/proc");
        assertThat(only(defaults, DaemonSet.class).getSpec().getTemplate().getSpec().getHostPID()).isTrue();
        assertThat(path(config, "netpass.agent").toString()).doesNotContain("libvirt-run-directory");

        List<HasMetadata> libvirt = objects(NetpassChart.DIRECTORY.resolve("ci/scheduling-values.yaml"));
        Container libvirtAgent = only(libvirt, DaemonSet.class).getSpec().getTemplate().getSpec().getContainers()
                .getFirst();
        Map<String, Object> libvirtConfig = applicationYaml(libvirt, "np-netpass-agent");
        assertThat(path(libvirtConfig, "netpass.agent.discovery.libvirt-run-directory"))
                .isEqualTo(mount(libvirtAgent, "host-libvirt-run").getMountPath());
        assertThat(path(libvirtConfig, "netpass.agent").toString()).doesNotContain("netns-directory");
    }

    @Test
    void theImagesTheChartNamesAreTheOnesTheBuildTagsAndRunsAsTheirUsers() throws Exception {
        String appVersion = YAML.readTree(NetpassChart.DIRECTORY.resolve("Chart.yaml").toFile()).path("appVersion")
                .asString();
        assertThat(appVersion).as("images/build-images.sh tags the images with the project version")
                .isEqualTo(projectVersion());

        Path images = Path.of("..", "images");
        Matcher user = Pattern.compile("(?m)^USER (\\d+):(\\d+)$")
                .matcher(Files.readString(images.resolve("controller/Dockerfile")));
        assertThat(user.find()).as("the controller image's numeric user").isTrue();
        PodSpec controller = only(objects(null), Deployment.class).getSpec().getTemplate().getSpec();
        assertThat(controller.getSecurityContext().getRunAsUser()).isEqualTo(Long.parseLong(user.group(1)));
        assertThat(controller.getSecurityContext().getRunAsGroup()).isEqualTo(Long.parseLong(user.group(2)));
        assertThat(controller.getSecurityContext().getFsGroup()).as("the state volume is the user's")
                .isEqualTo(Long.parseLong(user.group(2)));

        // One place decides the JVM options: the images' JDK_JAVA_OPTIONS, which the chart's env replaces whole.
        // An option on the entrypoint would come after them and win (a second collector makes the JVM refuse).
        PodSpec agent = only(objects(null), DaemonSet.class).getSpec().getTemplate().getSpec();
        for (String name : List.of("agent", "controller")) {
            String dockerfile = Files.readString(images.resolve(name + "/Dockerfile"));
            Matcher entrypoint = Pattern.compile("(?m)^ENTRYPOINT (\\[.*])$").matcher(dockerfile);
            assertThat(entrypoint.find()).as(name).isTrue();
            assertThat(entrypoint.group(1)).as(name + "'s entrypoint")
                    .isEqualTo("[\"java\", \"org.springframework.boot.loader.launch.JarLauncher\"]");
            assertThat(dockerfile).as(name).contains("ENV JDK_JAVA_OPTIONS=");
            Container container = (name.equals("agent") ? agent : controller).getContainers().getFirst();
            String options = container.getEnv().stream().filter(e -> e.getName().equals("JDK_JAVA_OPTIONS"))
                    .findFirst().orElseThrow().getValue();
            assertThat(options).as(name).contains("--enable-native-access=ALL-UNNAMED");
            assertThat(Pattern.compile("-XX:\\+Use\\w+GC").matcher(options).results().count()).as(name)
                    .isLessThanOrEqualTo(1);
        }
        assertThat(agent.getContainers().getFirst().getEnv()).filteredOn(e -> e.getName().equals("JDK_JAVA_OPTIONS"))
                .extracting(EnvVar::getValue).singleElement().asString().contains("-XX:+UseZGC");
    }

    /** The root pom's {@code project/version}. */
    private static String projectVersion() {
        try {
            return XPathFactory.newInstance().newXPath().evaluate("/project/version",
                    DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("..", "pom.xml").toFile()));
        } catch (Exception e) {
            throw new IllegalStateException("the root pom's version", e);
        }
    }

    @Test
    void tlsServesBothApisFromTheirCertificateSecretsAndAnExistingTokenSecret() {
        List<HasMetadata> objects = objects(NetpassChart.DIRECTORY.resolve("ci/tls-values.yaml"));
        assertThat(objects).as("the existing Secret is used, none created").noneMatch(o -> o instanceof Secret);
        PodSpec agent = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        PodSpec controller = only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        assertThat(volume(agent, "tls").getSecret().getSecretName()).isEqualTo("netpass-agent-tls");
        assertThat(volume(controller, "tls").getSecret().getSecretName()).isEqualTo("netpass-controller-tls");
        assertThat(volume(agent, "tokens").getSecret().getSecretName()).isEqualTo("netpass-tokens");
        for (String name : List.of("np-netpass-agent", "np-netpass-controller")) {
            Map<String, Object> config = applicationYaml(objects, name);
            PodSpec pod = name.endsWith("agent") ? agent : controller;
            String tls = mount(pod.getContainers().getFirst(), "tls").getMountPath();
            assertThat(path(config, "server.ssl.bundle")).isEqualTo("netpass");
            assertThat(path(config, "server.ssl.client-auth")).isEqualTo("need");
            assertThat(path(config, "management.server.ssl.enabled")).as("probes and scrapes stay plain HTTP")
                    .isEqualTo(false);
            assertThat(path(config, "spring.ssl.bundle.pem.netpass.keystore.certificate")).isEqualTo(tls + "/tls.crt");
            assertThat(path(config, "spring.ssl.bundle.pem.netpass.keystore.private-key")).isEqualTo(tls + "/tls.key");
            assertThat(path(config, "spring.ssl.bundle.pem.netpass.truststore.certificate")).isEqualTo(tls + "/ca.crt");
            assertThat(path(config, "netpass").toString()).contains("token-refresh=30s");
        }
        assertThatThrownBy(() -> NetpassChart.render(null, "tls.enabled", "true"))
                .hasMessageContaining("tls.agentSecret");
    }

    @Test
    void controllerRbacGrantsOnlyWhatEachEnabledFeatureWatches() {
        List<HasMetadata> defaults = objects(null);
        assertThat(defaults).noneMatch(o -> o.getKind().contains("Role"));
        assertThat(only(defaults, Deployment.class).getSpec().getTemplate().getSpec()
                .getAutomountServiceAccountToken()).isFalse();
        assertThat(only(defaults, Deployment.class).getSpec().getStrategy().getType()).isEqualTo("Recreate");

        List<HasMetadata> kubevirt = objects(NetpassChart.DIRECTORY.resolve("ci/kubevirt-values.yaml"));
        List<PolicyRule> namespaced = only(kubevirt, Role.class).getRules();
        assertThat(namespaced).extracting(ChartTest::describe).containsExactlyInAnyOrder(
                "[] [pods] [get, list, watch]",
                "[coordination.k8s.io] [leases] [create] []",
                "[coordination.k8s.io] [leases] [get, patch, update] [netpass-leader]");
        assertThat(only(kubevirt, ClusterRole.class).getRules()).extracting(ChartTest::describe)
                .containsExactlyInAnyOrder(
                        "[kubevirt.io] [virtualmachineinstancemigrations] [get, list, patch, watch]",
                        "[kubevirt.io] [virtualmachineinstances] [get, list, watch]");
        assertThat(only(kubevirt, ClusterRoleBinding.class).getRoleRef().getName())
                .isEqualTo(only(kubevirt, ClusterRole.class).getMetadata().getName());
        Deployment controller = only(kubevirt, Deployment.class);
        assertThat(controller.getSpec().getReplicas()).isEqualTo(2);
        assertThat(controller.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken()).isTrue();
        assertThat(volume(controller.getSpec().getTemplate().getSpec(), "state").getPersistentVolumeClaim()
                .getClaimName()).isEqualTo("netpass-controller-state");

        assertThatThrownBy(() -> NetpassChart.render(null, "controller.replicas", "2"))
                .hasMessageContaining("leaderElection");

        // Some namespaces: a Role in each instead of the ClusterRole; no report annotation: no patch.
        List<HasMetadata> scoped = NetpassChart.objects(null, "controller.kubevirt.enabled", "true",
                "controller.kubevirt.namespaces[0]", "vms-a",
                "controller.kubevirt.namespaces[1]", "vms-b", "controller.kubevirt.reportAnnotation", "");
        assertThat(scoped).noneMatch(o -> o instanceof ClusterRole || o instanceof ClusterRoleBinding);
        List<Role> roles = scoped.stream().filter(Role.class::isInstance).map(Role.class::cast).toList();
        assertThat(roles).extracting(r -> r.getMetadata().getNamespace()).containsExactlyInAnyOrder("vms-a", "vms-b");
        assertThat(roles).allSatisfy(role -> assertThat(role.getRules()).extracting(ChartTest::describe)
                .containsExactlyInAnyOrder("[kubevirt.io] [virtualmachineinstancemigrations] [get, list, watch]",
                        "[kubevirt.io] [virtualmachineinstances] [get, list, watch]"));
        assertThat(scoped.stream().filter(RoleBinding.class::isInstance).map(RoleBinding.class::cast))
                .extracting(b -> b.getMetadata().getNamespace() + " " + b.getSubjects().getFirst().getNamespace())
                .containsExactlyInAnyOrder("vms-a virt", "vms-b virt");
        assertThat(applicationYaml(scoped, "np-netpass-controller").get("netpass").toString())
                .contains("namespaces=[vms-a, vms-b]");
    }

    @Test
    void monitorsScrapeTheManagementPortsAndLabelAgentSeriesWithTheirNode() {
        assertThat(NetpassChart.render(null)).noneMatch(d -> d.path("apiVersion").asString()
                .startsWith("monitoring.coreos.com"));

        List<JsonNode> documents = NetpassChart.render(NetpassChart.DIRECTORY.resolve("ci/monitoring-values.yaml"));
        JsonNode controller = onlyDocument(documents, "ServiceMonitor");
        assertThat(controller.at("/metadata/labels/release").asString()).isEqualTo("kube-prometheus-stack");
        assertThat(controller.at("/spec/endpoints/0/port").asString()).isEqualTo("management");
        assertThat(controller.at("/spec/endpoints/0/path").asString()).isEqualTo("/actuator/prometheus");
        assertThat(controller.at("/spec/endpoints/0/interval").asString()).isEqualTo("10s");
        assertThat(controller.at("/spec/selector/matchLabels/app.kubernetes.io~1component").asString())
                .isEqualTo("controller");
        JsonNode agents = onlyDocument(documents, "PodMonitor");
        assertThat(agents.at("/spec/selector")).isEqualTo(onlyDocument(documents, "DaemonSet").at("/spec/selector"));
        assertThat(agents.at("/spec/podMetricsEndpoints/0/port").asString()).isEqualTo("management");
        JsonNode relabeling = agents.at("/spec/podMetricsEndpoints/0/relabelings/0");
        assertThat(relabeling.at("/sourceLabels/0").asString()).isEqualTo("__meta_kubernetes_pod_node_name");
        assertThat(relabeling.at("/targetLabel").asString()).isEqualTo("node");

        ((tools.jackson.databind.node.ObjectNode) agents.at("/spec/podMetricsEndpoints/0")).put("intervall", "5s");
        assertThatThrownBy(() -> KubernetesModel.read(agents)).hasMessageContaining("intervall");
    }

    private static JsonNode onlyDocument(List<JsonNode> documents, String kind) {
        List<JsonNode> found = documents.stream().filter(d -> d.path("kind").asString().equals(kind)).toList();
        assertThat(found).as(kind).hasSize(1);
        return found.getFirst();
    }

    @Test
    void theDashboardShipsAsAConfigMapForGrafanasSidecar() throws Exception {
        List<HasMetadata> objects = objects(null);
        ConfigMap dashboard = objects.stream().filter(o -> o instanceof ConfigMap
                && o.getMetadata().getName().endsWith("-dashboard")).map(ConfigMap.class::cast).findFirst()
                .orElseThrow();
        assertThat(dashboard.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
        assertThat(YAML.readTree(dashboard.getData().get("netpass.json")))
                .isEqualTo(YAML.readTree(Files.readString(GrafanaDashboard.FILE)));

        ConfigMap moved = objects(NetpassChart.DIRECTORY.resolve("ci/monitoring-values.yaml")).stream()
                .filter(o -> o.getMetadata().getName().endsWith("-dashboard")).map(ConfigMap.class::cast)
                .findFirst().orElseThrow();
        assertThat(moved.getMetadata().getNamespace()).isEqualTo("monitoring");
        assertThat(moved.getMetadata().getAnnotations()).containsEntry("grafana_folder", "netpass");
    }

    @Test
    void valuesOutsideTheSchemaAreRejected() {
        assertThatThrownBy(() -> NetpassChart.render(null, "agent.hostNetworking", "true"))
                .hasMessageContaining("hostNetworking");
        assertThatThrownBy(() -> NetpassChart.render(null, "tls.clientAuth", "always"))
                .hasMessageContaining("clientAuth");
    }

    private static String describe(PolicyRule rule) {
        String rule3 = sorted(rule.getApiGroups()) + " " + sorted(rule.getResources()) + " " + sorted(rule.getVerbs());
        return rule.getApiGroups().contains("coordination.k8s.io") ? rule3 + " " + sorted(rule.getResourceNames())
                : rule3;
    }

    private static List<String> sorted(List<String> values) {
        return values.stream().sorted().toList();
    }

    private static List<HasMetadata> objects(Path values) {
        return NetpassChart.objects(values);
    }

    private static <T> T only(List<HasMetadata> objects, Class<T> type) {
        return NetpassChart.only(objects, type);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> applicationYaml(List<HasMetadata> objects, String name) {
        ConfigMap config = objects.stream().filter(o -> o instanceof ConfigMap
                && o.getMetadata().getName().equals(name)).map(ConfigMap.class::cast).findFirst().orElseThrow();
        return YAML.readValue(config.getData().get("application.yaml"), Map.class);
    }

    @SuppressWarnings("unchecked")
    private static Object path(Map<String, Object> map, String dotted) {
        Object current = map;
        for (String key : dotted.split("\\.")) {
            assertThat(current).as(dotted).isInstanceOf(Map.class);
            current = ((Map<String, Object>) current).get(key);
        }
        assertThat(current).as(dotted).isNotNull();
        return current;
    }
}
