package io.netpass.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.util.FileSystemUtils;

import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.IdleQemu;
import io.netpass.agent.testing.LabNamespace;
import io.netpass.agent.testing.NamespaceLab;
import tools.jackson.databind.JsonNode;

/**
 * integrations/libvirt/qemu, the libvirt hook, run the way libvirtd runs it on a migration's destination host (its
 * arguments, the domain XML on standard input) against a real controller and two real agents. The domain's two
 * QEMUs are real QEMUs holding taps in two namespace hosts, each named as libvirt names a domain's QEMU and found
 * by its agent through its own libvirt pid file, as on two libvirt hosts.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LibvirtHookIT {

    private static final Path WORK = Path.of("target", "it-e2e", "LibvirtHookIT");
    private static final Path HOOK = Path.of("..", "integrations", "libvirt", "qemu");
    private static final Duration HOOK_TIMEOUT = Duration.ofSeconds(20);
    private static final String MAC = "52:54:00:4c:56:01";

    private static NamespaceLab lab;
    private static AgentProcess sourceAgent;
    private static AgentProcess destinationAgent;
    private static ControllerProcess controller;
    private static String domain;
    private static String uuid;
    private static LabNamespace sourceHost;
    private static LabNamespace destinationHost;

    @BeforeAll
    static void start() throws Exception {
        FileSystemUtils.deleteRecursively(WORK);
        Files.createDirectories(WORK);
        Path agentToken = Files.writeString(WORK.resolve("controller-to-agents.token"),
                "controller-" + Long.toHexString(System.nanoTime()) + "\n");
        CompletableFuture<AgentProcess> a = CompletableFuture.supplyAsync(() -> AgentProcess.start("a", WORK,
                "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
                "--netpass.agent.discovery.libvirt-run-directory=" + WORK.resolve("a-libvirt").toAbsolutePath()));
        CompletableFuture<AgentProcess> b = CompletableFuture.supplyAsync(() -> AgentProcess.start("b", WORK,
                "--netpass.agent.security.controller-token-file=" + agentToken.toAbsolutePath(),
                "--netpass.agent.discovery.libvirt-run-directory=" + WORK.resolve("b-libvirt").toAbsolutePath()));

        lab = new NamespaceLab();
        domain = "guest-" + lab.id();
        uuid = UUID.randomUUID().toString();
        sourceHost = lab.namespace("src");
        destinationHost = lab.namespace("dst");
        // As libvirt starts them: the NIC in JSON form, the destination waiting for the migration stream.
        IdleQemu source = IdleQemu.start(lab, sourceHost, 1, libvirtNic(domain, "vnet0"));
        IdleQemu destination = IdleQemu.start(lab, destinationHost, 1,
                concat(libvirtNic(domain, "vnet5"), "-incoming", "defer"));
        sourceHost.ip("link", "set", "vnet0", "up");
        destinationHost.ip("link", "set", "vnet5", "up");
        // Each host's libvirtd keeps the pid of the domain's QEMU there.
        Files.createDirectories(WORK.resolve("a-libvirt"));
        Files.createDirectories(WORK.resolve("b-libvirt"));
        Files.writeString(WORK.resolve("a-libvirt").resolve(domain + ".pid"), Integer.toString(source.pid()));
        Files.writeString(WORK.resolve("b-libvirt").resolve(domain + ".pid"), Integer.toString(destination.pid()));

        sourceAgent = a.get(2, TimeUnit.MINUTES);
        destinationAgent = b.get(2, TimeUnit.MINUTES);
        controller = ControllerProcess.start(WORK.resolve("controller"), agentToken,
                Map.of("host-a", sourceAgent.baseUri(), "host-b", destinationAgent.baseUri()));
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable running : new AutoCloseable[] {controller, sourceAgent, destinationAgent, lab}) {
            if (running != null) {
                try {
                    running.close();
                } catch (Exception e) {
                    System.err.println("closing " + running + ": " + e);
                }
            }
        }
    }

    @Test
    void anIncomingMigrationIsRegisteredWithTheTapsBothAgentsDiscoveredAndItsFailureReported() throws Exception {
        Path config = config("hook", controller.baseUri().toString(), "b");

        // libvirtd on the destination: migrate begin (a filter of the domain XML), then the domain's start.
        Hook migrate = hook(config, "migrate", "begin", "-");
        assertThat(migrate.exitCode()).isZero();
        assertThat(migrate.output()).as("a migrate hook's output replaces the domain XML").isEmpty();
        for (String operation : List.of("prepare", "start")) {
            assertThat(hook(config, operation, "begin", "-").exitCode()).isZero();
        }
        assertThat(controller.call("GET", "/v1/migrations?vm=" + uuid, null).json().path("items")).isEmpty();
        Hook started = hook(config, "started", "begin", "-");
        assertThat(started.exitCode()).isZero();
        assertThat(started.output()).isEmpty();

        JsonNode items = controller.call("GET", "/v1/migrations?vm=" + uuid, null).json().path("items");
        assertThat(items).as(log()).hasSize(1);
        String id = items.get(0).path("id").asString();
        JsonNode armed = awaitState(id, "ARMED");
        assertThat(armed.path("sourceAgent").asString()).isEqualTo(sourceAgent.baseUri().toString());
        assertThat(armed.path("destinationAgent").asString()).isEqualTo(destinationAgent.baseUri().toString());
        JsonNode nic = armed.path("nics").get(0);
        assertThat(armed.path("nics")).hasSize(1);
        assertThat(nic.path("mac").asString()).isEqualTo(MAC);
        assertThat(nic.path("sourceTap").asString()).isEqualTo("vnet0");
        assertThat(nic.path("sourceNamespace").asString()).isEqualTo(sourceHost.path().toString());
        assertThat(nic.path("destinationTap").asString()).isEqualTo("vnet5");
        assertThat(nic.path("destinationNamespace").asString()).isEqualTo(destinationHost.path().toString());
        assertThat(sourceAgent.api().session(id + ".0", "source").path("tap").asString()).isEqualTo("vnet0");
        assertThat(destinationAgent.api().session(id + ".0", "destination").path("tap").asString())
                .isEqualTo("vnet5");

        // The incoming QEMU goes away on this host soon after: the migration failed.
        assertThat(hook(config, "stopped", "end", "-").exitCode()).isZero();
        assertThat(hook(config, "release", "end", "failed").exitCode()).isZero();
        JsonNode failed = awaitState(id, "FAILED");
        assertThat(failed.path("events").get(0).path("type").asString()).isEqualTo("FAILED");
        assertThat(log()).contains("registered migration " + id);
    }

    @Test
    void anUnreachableControllerNeitherFailsNorHoldsUpTheMigration() throws Exception {
        Path config = config("unreachable", "http://127.0.0.1:9", "b");

        long started = System.nanoTime();
        Hook migrate = hook(config, "migrate", "begin", "-");
        Hook start = hook(config, "started", "begin", "-");
        Hook release = hook(config, "release", "end", "failed");

        assertThat(List.of(migrate, start, release)).allSatisfy(run -> {
            assertThat(run.exitCode()).isZero();
            assertThat(run.output()).isEmpty();
        });
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(8));
        assertThat(Files.readString(WORK.resolve("unreachable.log")))
                .contains("controller did not register the migration");
        // Not configured at all: nothing to do, and still success.
        assertThat(hook(WORK.resolve("no-such.conf"), "started", "begin", "-").exitCode()).isZero();
    }

    @Test
    void aStartThatIsNoIncomingMigrationIsNotRegistered() throws Exception {
        // Host A's QEMU runs the domain without -incoming: a marker left by a migration that never started QEMU
        // (an offline one, say) must not make an ordinary start a migration.
        Path config = config("ordinary", controller.baseUri().toString(), "a");
        int before = controller.call("GET", "/v1/migrations?vm=" + uuid, null).json().path("items").size();

        assertThat(hook(config, "migrate", "begin", "-").exitCode()).isZero();
        assertThat(hook(config, "started", "begin", "-").exitCode()).isZero();

        assertThat(controller.call("GET", "/v1/migrations?vm=" + uuid, null).json().path("items")).hasSize(before);
        assertThat(Files.readString(WORK.resolve("ordinary.log"))).contains("not waiting for a migration");
    }

    private static String[] libvirtNic(String name, String tap) {
        return new String[] {"-name", "guest=" + name + ",debug-threads=on",
            "-netdev", "{\"type\":\"tap\",\"ifname\":\"" + tap + "\",\"script\":\"no\",\"downscript\":\"no\","
                    + "\"id\":\"hostnet0\"}",
            "-device", "{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\",\"mac\":\"" + MAC
                    + "\",\"romfile\":\"\"}"};
    }

    private static String[] concat(String[] first, String... more) {
        String[] all = java.util.Arrays.copyOf(first, first.length + more.length);
        System.arraycopy(more, 0, all, first.length, more.length);
        return all;
    }

    private static Path config(String name, String controllerUrl, String libvirtHost) throws IOException {
        return Files.writeString(WORK.resolve(name + ".conf"), String.join("\n",
                "NETPASS_LIBVIRT_RUN_DIR=" + WORK.resolve(libvirtHost + "-libvirt").toAbsolutePath(),
                "NETPASS_CONTROLLER_URL=" + controllerUrl,
                "NETPASS_CONTROLLER_TOKEN_FILE=" + controller.callerTokenFile().toAbsolutePath(),
                "NETPASS_AGENT_URL=" + destinationAgent.baseUri(),
                "NETPASS_STATE_DIR=" + WORK.resolve(name + "-state").toAbsolutePath(),
                "NETPASS_CURL_MAX_TIME=2",
                "NETPASS_HOOK_LOG=" + WORK.resolve(name + ".log").toAbsolutePath(), ""));
    }

    private static String domainXml() {
        return """
                <domain type='kvm' id='7'>
                  <name>%s</name>
                  <uuid>%s</uuid>
                  <memory unit='KiB'>131072</memory>
                  <devices>
                    <interface type='bridge'>
                      <mac address='%s'/>
                      <source bridge='br0'/>
                      <target dev='vnet5'/>
                      <model type='virtio'/>
                      <alias name='net0'/>
                    </interface>
                  </devices>
                </domain>
                """.formatted(domain, uuid, MAC);
    }

    private record Hook(int exitCode, String output) {
    }

    /** Runs the hook as libvirtd does: {@code qemu DOMAIN OPERATION PHASE EXTRA}, the domain XML on stdin. */
    private static Hook hook(Path config, String operation, String phase, String extra) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("sh", HOOK.toString(), domain, operation, phase, extra)
                .redirectErrorStream(true);
        builder.environment().put("NETPASS_HOOK_CONFIG", config.toAbsolutePath().toString());
        Process process = builder.start();
        try (var stdin = process.getOutputStream()) {
            stdin.write(domainXml().getBytes(StandardCharsets.UTF_8));
        }
        if (!process.waitFor(HOOK_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("hook " + operation + " " + phase + " still runs after " + HOOK_TIMEOUT);
        }
        return new Hook(process.exitValue(), new String(process.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8));
    }

    private static JsonNode awaitState(String id, String state) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            last = controller.migration(id);
            if (state.equals(last.path("state").asString())) {
                return last;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(id + " not " + state + ": " + last + "\n" + log());
    }

    private static String log() {
        try {
            return Files.readString(WORK.resolve("hook.log"));
        } catch (IOException e) {
            return "(no hook log)";
        }
    }
}
