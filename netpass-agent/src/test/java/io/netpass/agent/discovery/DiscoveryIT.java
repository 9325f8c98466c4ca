package io.netpass.agent.discovery;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.netpass.agent.linux.TunDevice;
import io.netpass.agent.security.AgentSecurityProperties;
import io.netpass.agent.security.TapNotAllowedException;
import io.netpass.agent.security.TapPolicy;
import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.IdleQemu;
import io.netpass.agent.testing.LabNamespace;
import io.netpass.agent.testing.NamespaceLab;
import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Discovery against real QEMU processes holding real taps in lab namespaces (frozen with {@code -S}: they hold their
 * taps as a VM's QEMU does and run nothing), and against processes that only look like QEMU.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DiscoveryIT {

    private static final Path WORK = Path.of("target", "it-agents", "DiscoveryIT");
    private static final String MAC_A = "52:54:00:d1:5c:01";
    private static final String MAC_B = "52:54:00:d1:5c:02";

    private static AgentProcess agent;

    @TempDir
    Path temporary;

    private NamespaceLab lab;
    private LabNamespace host;
    private VmDiscovery discovery;

    @BeforeAll
    static void startAgent() {
        agent = AgentProcess.start("d", WORK);
    }

    @AfterAll
    static void stopAgent() {
        if (agent != null) {
            agent.close();
        }
    }

    @BeforeEach
    void createLab() throws IOException {
        lab = new NamespaceLab();
        host = lab.namespace("host");
        discovery = new VmDiscovery(new DiscoveryProperties(Path.of("/proc"),
                Files.createDirectories(temporary.resolve("libvirt")), Path.of("/run/netns")));
    }

    @AfterEach
    void closeLab() {
        lab.close();
    }

    @Test
    void withAQemuPidAloneFindsEachNicsTapNamespaceAndMac() {
        // One NIC in QEMU's key=value form, one in libvirt's JSON form.
        IdleQemu qemu = IdleQemu.start(lab, host, 2, "-name", "guest=vm-" + lab.id() + ",debug-threads=on",
                "-netdev", "tap,id=n0,ifname=tapd0,script=no,downscript=no,vhost=off",
                "-device", "virtio-net-pci,netdev=n0,mac=" + MAC_A,
                "-netdev", "{\"type\":\"tap\",\"id\":\"hostnet1\",\"ifname\":\"vnetd1\",\"script\":\"no\","
                        + "\"downscript\":\"no\"}",
                "-device", "{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet1\",\"id\":\"net1\",\"mac\":\""
                        + MAC_B.toUpperCase() + "\"}");

        DiscoveredVm found = discovery.discover(new VmLocator(qemu.pid(), null, null));

        assertThat(found.qemuPid()).isEqualTo(qemu.pid());
        assertThat(found.nics()).containsExactly(
                new DiscoveredVm.TapNic(MAC_A, "tapd0", host.path().toString()),
                new DiscoveredVm.TapNic(MAC_B, "vnetd1", host.path().toString()));
        // The taps are really there, in that namespace.
        assertThat(host.ip("-o", "link", "show", "dev", "tapd0")).contains("tapd0");
    }

    @Test
    void aQemuInANamespaceWithoutANameIsReportedByItsProcPath() throws IOException {
        IdleQemu qemu = IdleQemu.start(lab, host, 1,
                "-netdev", "tap,id=n0,ifname=tapd2,script=no,downscript=no", "-device", "e1000,netdev=n0");
        VmDiscovery withoutNames = new VmDiscovery(new DiscoveryProperties(Path.of("/proc"),
                temporary.resolve("libvirt"), Files.createDirectories(temporary.resolve("no-netns"))));

        DiscoveredVm found = withoutNames.discover(new VmLocator(qemu.pid(), null, null));

        // No mac= on the command line: QEMU chose one, which the command line does not tell.
        assertThat(found.nics()).containsExactly(
                new DiscoveredVm.TapNic(null, "tapd2", "/proc/" + qemu.pid() + "/ns/net"));
    }

    @Test
    void findsTheVmByLibvirtDomainAndByKubevirtVmi() {
        String domain = "ns-" + lab.id() + "_vmi-a";
        IdleQemu qemu = IdleQemu.start(lab, host, 1, "-name", "guest=" + domain + ",debug-threads=on",
                "-netdev", "tap,id=n0,ifname=tapd3,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=" + MAC_A);
        IdleQemu.start(lab, host, 1, "-name", "guest=other-" + lab.id(),
                "-netdev", "tap,id=n0,ifname=tapd4,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=" + MAC_B);

        DiscoveredVm byDomain = discovery.discover(new VmLocator(null, domain, null));
        DiscoveredVm byVmi = discovery.discover(
                new VmLocator(null, null, new VmLocator.KubevirtVmi("ns-" + lab.id(), "vmi-a")));

        assertThat(byDomain.qemuPid()).isEqualTo(qemu.pid());
        assertThat(byDomain.nics()).extracting(DiscoveredVm.TapNic::tap).containsExactly("tapd3");
        assertThat(byVmi).isEqualTo(byDomain);
        assertThatThrownBy(() -> discovery.discover(new VmLocator(null, "absent-" + lab.id(), null)))
                .isInstanceOf(VmNotFoundException.class);
    }

    @Test
    void twoQemusOfOneNameAreAmbiguousUnlessLibvirtsPidFileNamesOne() throws IOException {
        String domain = "twin-" + lab.id();
        IdleQemu.start(lab, host, 1, "-name", "guest=" + domain,
                "-netdev", "tap,id=n0,ifname=tapd5,script=no,downscript=no", "-device", "e1000,netdev=n0");
        IdleQemu second = IdleQemu.start(lab, host, 1, "-name", "guest=" + domain,
                "-netdev", "tap,id=n0,ifname=tapd6,script=no,downscript=no", "-device", "e1000,netdev=n0");

        assertThatThrownBy(() -> discovery.discover(new VmLocator(null, domain, null)))
                .isInstanceOf(SeveralVmsFoundException.class);

        Files.writeString(temporary.resolve("libvirt").resolve(domain + ".pid"), second.pid() + "\n");
        assertThat(discovery.discover(new VmLocator(null, domain, null)).nics())
                .extracting(DiscoveredVm.TapNic::tap).containsExactly("tapd6");
    }

    @Test
    void aProcessCalledQemuIsNoQemuAndItsNamespaceIsNotAllowed() throws Exception {
        // The kernel names the process after the link (comm "qemu-system-x86"); its executable is sleep.
        Path impostor = Files.createSymbolicLink(temporary.resolve("qemu-system-x86_64"), sleepBinary());
        Process process = new ProcessBuilder(impostor.toString(), "60").start();
        try {
            int pid = Math.toIntExact(process.pid());
            awaitComm(pid, "qemu-system-x86");

            assertThat(discovery.isQemu(pid)).isFalse();
            assertThatThrownBy(() -> discovery.discover(new VmLocator(pid, null, null)))
                    .isInstanceOf(NotAQemuProcessException.class);
            TapPolicy policy = new TapPolicy(securityDefaults(), discovery::isQemu);
            assertThatThrownBy(() -> policy.check("tap0", "/proc/" + pid + "/ns/net"))
                    .isInstanceOf(TapNotAllowedException.class);
        } finally {
            process.destroyForcibly().waitFor();
        }
    }

    @Test
    void theAgentsPolicyAdmitsTheNamespaceOfAQemuProcess() {
        IdleQemu qemu = IdleQemu.start(lab, host, 1,
                "-netdev", "tap,id=n0,ifname=tapd7,script=no,downscript=no", "-device", "e1000,netdev=n0");
        TapPolicy policy = new TapPolicy(securityDefaults(), discovery::isQemu);

        policy.check("tapd7", "/proc/" + qemu.pid() + "/ns/net");
    }

    @Test
    void aQemuWithoutATapNicAndAGoneQemuAreErrors() throws InterruptedException {
        IdleQemu noNic = IdleQemu.start(lab, host, 0, "-name", "guest=nonic-" + lab.id());
        assertThatThrownBy(() -> discovery.discover(new VmLocator(noNic.pid(), null, null)))
                .isInstanceOf(NoTapNicException.class);

        IdleQemu gone = IdleQemu.start(lab, host, 1,
                "-netdev", "tap,id=n0,ifname=tapd8,script=no,downscript=no", "-device", "e1000,netdev=n0");
        int pid = gone.pid();
        gone.close();
        assertThatThrownBy(() -> discovery.discover(new VmLocator(pid, null, null)))
                .isInstanceOf(NotAQemuProcessException.class);
    }

    @Test
    void theKernelNamesTheTapOfATunDescriptorInFdinfo() throws IOException {
        try (TunDevice tap = TunDevice.openTap(host.network(), "tapd9", 12, TunDevice.QEMU_OFFLOADS)) {
            List<String> named = new java.util.ArrayList<>();
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : fds.toList()) {
                    Optional<String> link = readLink(fd);
                    if (link.isPresent() && link.get().equals("/dev/net/tun")) {
                        FdInfo.tunInterface(Files.readString(Path.of("/proc/self/fdinfo")
                                .resolve(fd.getFileName().toString()))).ifPresent(named::add);
                    }
                }
            }
            assertThat(named).contains("tapd9");
        }
    }

    @Test
    void theEndpointAnswersWithTheDiscoveredVmAndProblemsOfTheContract() {
        IdleQemu qemu = IdleQemu.start(lab, host, 1, "-name", "guest=api-" + lab.id(),
                "-netdev", "tap,id=n0,ifname=vnetda,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=" + MAC_A);
        AgentApi api = agent.api();

        AgentApi.Response byPid = api.discover("{\"qemuPid\":" + qemu.pid() + "}");
        assertThat(byPid.status()).as(byPid.toString()).isEqualTo(200);
        JsonNode nic = byPid.json().path("nics").get(0);
        assertThat(byPid.json().path("qemuPid").asInt()).isEqualTo(qemu.pid());
        assertThat(nic.path("mac").asString()).isEqualTo(MAC_A);
        assertThat(nic.path("tap").asString()).isEqualTo("vnetda");
        assertThat(nic.path("namespace").asString()).isEqualTo(host.path().toString());
        assertThat(api.discover("{\"libvirtDomain\":\"api-" + lab.id() + "\"}").json()).isEqualTo(byPid.json());

        assertThat(api.discover("{\"libvirtDomain\":\"absent-" + lab.id() + "\"}").json().path("type").asString())
                .isEqualTo("urn:netpass:problem:vm-not-found");
        assertThat(api.discover("{\"qemuPid\":" + agent.pid() + "}").json().path("type").asString())
                .isEqualTo("urn:netpass:problem:not-a-qemu-process");
        assertThat(api.discover("{\"qemuPid\":1,\"libvirtDomain\":\"x\"}").status()).isEqualTo(400);
        assertThat(api.discover("{}").status()).isEqualTo(400);
        assertThat(api.discover("{\"kubevirtVmi\":{\"namespace\":\"Bad_NS\",\"name\":\"x\"}}").status())
                .isEqualTo(400);
        assertThat(api.withToken(agent.peerToken()).discover("{\"qemuPid\":1}").status()).isEqualTo(403);
    }

    private static AgentSecurityProperties securityDefaults() {
        return new AgentSecurityProperties(null, null, java.time.Duration.ofSeconds(5),
                "^(tap|vnet|macvtap)[A-Za-z0-9_.-]{0,12}$",
                "^(/run/netns/[A-Za-z0-9_.-]{1,64}|/proc/[0-9]{1,10}/ns/net)$", true);
    }

    private static Path sleepBinary() {
        return Stream.of("/usr/bin/sleep", "/bin/sleep").map(Path::of).filter(Files::isExecutable).findFirst()
                .orElseThrow();
    }

    private static void awaitComm(int pid, String comm) throws Exception {
        Path file = Path.of("/proc", Integer.toString(pid), "comm");
        for (int i = 0; i < 250; i++) {
            if (Files.exists(file) && Files.readString(file).strip().equals(comm)) {
                return;
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("process " + pid + " never became " + comm);
    }

    private static Optional<String> readLink(Path fd) {
        try {
            return Optional.of(Files.readSymbolicLink(fd).toString());
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
