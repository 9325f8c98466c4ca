package io.netpass.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.ProcessThreads;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent needs exactly the capabilities the chart grants it. The real agent, started from the chart's rendered
 * DaemonSet pod, runs under capsh with only those capabilities (as a container runtime grants them to uid 0), then
 * with each one removed, and arms taps as a migration does: a source and a destination tap in a named namespace
 * ({@code /run/netns/NAME}), and a source tap named by {@code /proc/PID/ns/net} of a process that looks like
 * KubeVirt's QEMU (uid 107, named qemu-system-x86_64). With all of them everything arms; without one, what needs it
 * fails and the rest still arms; without SYS_NICE everything arms and the release path's threads keep nice 0.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class AgentCapabilitiesIT {

    private static final EthernetAddress SOURCE_MAC = EthernetAddress.of("52:54:00:6e:63:01");
    private static final EthernetAddress DESTINATION_MAC = EthernetAddress.of("52:54:00:6e:63:02");
    private static final EthernetAddress QEMU_MAC = EthernetAddress.of("52:54:00:6e:63:03");
    /** KubeVirt's virt-launcher runs QEMU as this user. */
    private static final String QEMU_UID = "107";

    private static List<HasMetadata> objects;
    private static PodSpec agentPod;
    private static NamespaceLab lab;
    private static Host host;
    private static Process qemu;
    private static Path qemuBinary;

    @BeforeAll
    static void renderTheChartAndLayOutAHost() throws IOException {
        objects = NetpassChart.objects(null);
        agentPod = NetpassChart.only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
        lab = new NamespaceLab();
        host = lab.host("cap");
        host.startVm("tapcs", SOURCE_MAC);
        host.startVm("tapcd", DESTINATION_MAC);
        host.startVm("tapcq", QEMU_MAC);
        // A process of another user in the host's namespace, named as QEMU is, as the agent's /proc check demands.
        Path directory = Files.createTempDirectory("netpass-qemu", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        qemuBinary = Files.copy(Path.of("/bin/sleep"), directory.resolve("qemu-system-x86_64"),
                StandardCopyOption.COPY_ATTRIBUTES);
        qemu = new ProcessBuilder("ip", "netns", "exec", host.namespace().name(), "setpriv", "--reuid=" + QEMU_UID,
                "--regid=" + QEMU_UID, "--clear-groups", qemuBinary.toString(), "300")
                .redirectErrorStream(true).start();
        awaitComm(qemu.pid());
    }

    /** {@code ip netns exec} runs setpriv, which executes the binary in the same process. */
    private static void awaitComm(long pid) throws IOException {
        Path comm = Path.of("/proc", Long.toString(pid), "comm");
        for (int i = 0; i < 100; i++) {
            if (Files.exists(comm) && Files.readString(comm).strip().startsWith("qemu")) {
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        throw new IllegalStateException("the fake QEMU did not start: " + new String(qemu.getInputStream()
                .readAllBytes()));
    }

    @AfterAll
    static void stop() throws IOException {
        if (qemu != null) {
            qemu.destroy();
        }
        if (lab != null) {
            lab.close();
        }
        if (qemuBinary != null) {
            Files.deleteIfExists(qemuBinary);
            Files.deleteIfExists(qemuBinary.getParent());
        }
    }

    /** The chart's capabilities, then each one removed. */
    static Stream<Arguments> capabilitySets() {
        List<String> granted = NetpassChart.only(NetpassChart.objects(null), DaemonSet.class).getSpec().getTemplate()
                .getSpec().getContainers().getFirst().getSecurityContext().getCapabilities().getAdd();
        return Stream.concat(Stream.of(Arguments.of("all granted", Set.copyOf(granted))),
                granted.stream().map(removed -> Arguments.of("without " + removed, granted.stream()
                        .filter(c -> !c.equals(removed)).collect(Collectors.toUnmodifiableSet()))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("capabilitySets")
    void armsWhatItsCapabilitiesAllowAndNothingElse(String name, Set<String> capabilities, @TempDir Path root) {
        RenderedPod.Tokens tokens = RenderedPod.Tokens.random();
        try (RenderedPod agent = RenderedPod.start(RenderedPod.jar("netpass.agent.jar"), agentPod, objects, root,
                tokens, null, launcherWith(capabilities))) {
            HttpClient http = HttpClient.newHttpClient();
            String namedNamespace = host.namespace().path().toString();
            Map<String, HttpResponse<String>> armed = Map.of(
                    "source in /run/netns", agent.call(http, "PUT", "/v1/migrations/caps-s/source",
                            tokens.controller(), arm("tapcs", namedNamespace, SOURCE_MAC, null)),
                    "destination in /run/netns", agent.call(http, "PUT", "/v1/migrations/caps-d/destination",
                            tokens.controller(), arm("tapcd", namedNamespace, DESTINATION_MAC,
                                    agent.api().toString())),
                    "source in /proc/PID/ns/net of QEMU", agent.call(http, "PUT", "/v1/migrations/caps-q/source",
                            tokens.controller(), arm("tapcq", "/proc/" + qemu.pid() + "/ns/net", QEMU_MAC, null)));

            Set<String> expected = new TreeSet<>();
            if (capabilities.containsAll(Set.of("NET_RAW", "SYS_ADMIN"))) {
                expected.add("source in /run/netns");
                if (capabilities.contains("NET_ADMIN")) {
                    expected.add("destination in /run/netns");
                }
                if (capabilities.contains("SYS_PTRACE")) {
                    expected.add("source in /proc/PID/ns/net of QEMU");
                }
            }
            Set<String> succeeded = new TreeSet<>();
            armed.forEach((what, response) -> {
                if (response.statusCode() / 100 == 2) {
                    succeeded.add(what);
                }
            });
            assertThat(succeeded).as("armed with %s: %s", capabilities, armed.entrySet().stream()
                    .map(e -> e.getKey() + " → " + e.getValue().statusCode() + " " + e.getValue().body())
                    .collect(Collectors.joining("\n"))).isEqualTo(expected);
            // Scheduling is not needed to arm, only for a fast release: without it the thread keeps nice 0.
            assertThat(ProcessThreads.niceByName(agent.pid())).as("the release path's receiving thread")
                    .containsEntry("final-count-rec", capabilities.contains("SYS_NICE") ? -10 : 0);
        }
    }

    private static String arm(String tap, String namespace, EthernetAddress mac, String sourceAgent) {
        return "{\"tap\":\"" + tap + "\",\"namespace\":\"" + namespace + "\",\"vmMacs\":[\"" + mac + "\"]"
                + (sourceAgent != null ? ",\"sourceAgent\":\"" + sourceAgent + "\"" : "") + "}";
    }

    /**
     * capsh keeping only {@code capabilities} in the bounding set, then running its arguments: for uid 0 the
     * bounding set is what the program gets, as with a runtime's {@code drop: [ALL]} and {@code add}.
     */
    private static String[] launcherWith(Set<String> capabilities) {
        Set<String> kept = capabilities.stream().map(c -> "cap_" + c.toLowerCase(Locale.ROOT))
                .collect(Collectors.toSet());
        String dropped = boundingSet().stream().filter(c -> !kept.contains(c)).collect(Collectors.joining(","));
        return new String[] {"capsh", "--drop=" + dropped, "--", "-c", "exec \"$0\" \"$@\""};
    }

    private static List<String> boundingSet() {
        try {
            Process capsh = new ProcessBuilder("capsh", "--print").redirectErrorStream(true).start();
            String output = new String(capsh.getInputStream().readAllBytes());
            String line = output.lines().filter(l -> l.startsWith("Bounding set =")).findFirst().orElseThrow(
                    () -> new IllegalStateException("capsh --print: " + output));
            return Arrays.asList(line.substring("Bounding set =".length()).strip().split(","));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
