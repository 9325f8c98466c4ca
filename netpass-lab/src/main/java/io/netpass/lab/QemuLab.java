package io.netpass.lab;

import java.io.IOException;
import java.net.Inet4Address;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A live-migration lab with real QEMU: two "hosts" and a client, each a network namespace, joined by a "switch" (a
 * learning Linux bridge in a fourth namespace):
 *
 * <pre>
 *   host A: [tap-a]--br0--uplink --+              +-- uplink--br0--[tap-b] :host B
 *                                  |-- switch ns -|
 *                                  |  bridge "sw" |
 *                                  +---- eth0 ----+ client (198.18.0.1)
 * </pre>
 *
 * The guest (198.18.0.10) boots under TCG in host A on {@code tap-a}; a destination QEMU waits with
 * {@code -incoming} in host B on {@code tap-b}; the migration stream goes over a unix socket. After the switchover,
 * QEMU's self-announcements teach the switch that the VM's MAC now lives behind host B.
 *
 * <p>Everything the lab creates carries its id: namespaces {@code np-q<id>-a|b|c|s}, QEMUs named
 * {@code netpass-lab-<id>-src|dst}, files under {@code /tmp/netpass-lab-<id>}. {@link #close()} (also run by a shutdown
 * hook) kills both QEMUs and deletes it all; {@code .ci/cleanup-lab.sh} catches what a killed JVM left.
 */
public final class QemuLab implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(QemuLab.class);

    private static final String CLIENT_IP = "198.18.0.1";
    private static final String GUEST_IP = "198.18.0.10";
    private static final int PREFIX_LENGTH = 24;
    private static final String SOURCE_TAP = "tap-a";
    private static final String DESTINATION_TAP = "tap-b";
    private static final String CLIENT_INTERFACE = "eth0";
    /** QEMU and libvirt give their taps 1000; the kernel's default for tun devices is 500. */
    private static final int TAP_QUEUE_LENGTH = 1000;
    private static final Duration BOOT_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration MIGRATION_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration MIGRATION_POLL = Duration.ofMillis(10);
    /** Probes keep flowing this long after the switchover, then stop. */
    private static final Duration PROBE_TAIL = Duration.ofSeconds(1);
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);
    /** Printed by QEMU 7.2's virtio when the TCG migration bug has corrupted the NIC's transmit queue. */
    private static final String VIRTIO_BROKEN = "is not a head";

    private final String id;
    private final Path directory;
    private final GuestImage guest;
    private final String vmMac;
    private final String clientMac;
    private final List<String> namespaces = new ArrayList<>();
    private final Thread shutdownHook;
    // Assigned the moment QEMU is launched, under the lab's lock, so that close() (maybe from the shutdown hook, on
    // another thread) sees and kills every QEMU and no QEMU starts once close() has begun.
    private volatile @Nullable QemuProcess source;
    private volatile @Nullable QemuProcess destination;
    private boolean migrated;
    private boolean closed;
    private volatile @Nullable String guestName;

    private QemuLab(String id, GuestImage guest) {
        this.id = id;
        this.guest = guest;
        this.directory = Path.of("/tmp", "netpass-lab-" + id);
        byte[] suffix = HexFormat.of().parseHex(id);
        this.vmMac = "52:54:00:12:%02x:%02x".formatted(suffix[0], suffix[1]);
        this.clientMac = "02:00:c6:12:%02x:%02x".formatted(suffix[0], suffix[1]);
        this.shutdownHook = Thread.ofPlatform().unstarted(this::close);
    }

    /** Builds the guest if needed and creates the lab's namespaces and links; no QEMU runs yet. */
    public static QemuLab create() {
        GuestImage guest = GuestImage.build();
        String id = "%04x".formatted(ThreadLocalRandom.current().nextInt(1 << 16));
        QemuLab lab = new QemuLab(id, guest);
        Runtime.getRuntime().addShutdownHook(lab.shutdownHook);
        try {
            Files.createDirectories(lab.directory);
            lab.buildNetwork();
            return lab;
        } catch (IOException | RuntimeException e) {
            lab.close();
            throw e instanceof RuntimeException runtime ? runtime : new IllegalStateException(e);
        }
    }

    /**
     * Gives both QEMUs this guest name ({@code -name guest=NAME}), as libvirt gives both QEMUs of a domain the
     * domain's name (KubeVirt's virt-launcher: {@code NAMESPACE_NAME}), so that agents discover the VM by it. Default:
     * {@code netpass-lab-ID-src} and {@code -dst}.
     */
    public QemuLab named(String name) {
        guestName = name;
        return this;
    }

    /** The lab's id, part of every name it creates. */
    public String id() {
        return id;
    }

    /** The taps, namespaces and MAC netpass works with. */
    public MigrationEndpoints endpoints() {
        return new MigrationEndpoints(namespacePath("a"), SOURCE_TAP, namespacePath("b"), DESTINATION_TAP, vmMac);
    }

    /** The source QEMU's pid, once started: what an agent on host A is given to discover the VM. */
    public OptionalLong sourceQemuPid() {
        QemuProcess qemu = source;
        return qemu == null ? OptionalLong.empty() : OptionalLong.of(qemu.pid());
    }

    /** The destination QEMU's pid, once started. */
    public OptionalLong destinationQemuPid() {
        QemuProcess qemu = destination;
        return qemu == null ? OptionalLong.empty() : OptionalLong.of(qemu.pid());
    }

    /** The client and guest, for a {@link MigrationProbe}. */
    public ProbeTarget probeTarget() {
        return new ProbeTarget(namespacePath("c"), CLIENT_INTERFACE, clientMac, ProbePackets.ipv4(CLIENT_IP),
                ProbePackets.ipv4(GUEST_IP), vmMac);
    }

    /** Path of the client namespace, to run more traffic from. */
    public Path clientNamespace() {
        return namespacePath("c");
    }

    /** The guest's address. */
    public Inet4Address guestAddress() {
        return ProbePackets.ipv4(GUEST_IP);
    }

    /**
     * Boots the guest in host A and waits until it answers pings.
     *
     * @return the time from starting QEMU to the first echo reply
     */
    public Duration bootSource() {
        if (source != null) {
            throw new IllegalStateException("the source VM was already started");
        }
        long started = System.nanoTime();
        QemuProcess qemu;
        synchronized (this) {
            requireOpen();
            String name = "netpass-lab-" + id + "-src";
            qemu = QemuProcess.launch(name, guestName != null ? guestName : name, namespace("a"), directory, guest,
                    kernelArguments(), SOURCE_TAP, vmMac, null);
            source = qemu;
        }
        qemu.connect();
        try (MigrationProbe ping = MigrationProbe.start(probeTarget(), MigrationProbe.Kind.ICMP_ECHO, 20)) {
            if (!ping.awaitReplies(1, BOOT_TIMEOUT)) {
                throw new IllegalStateException("the guest did not answer pings within " + BOOT_TIMEOUT + "\n"
                        + qemu.diagnostics());
            }
        }
        Duration boot = Duration.ofNanos(System.nanoTime() - started);
        log.info("lab {}: guest booted and answers pings after {} ms", id, boot.toMillis());
        return boot;
    }

    /** Starts the destination QEMU in host B, waiting for the migration stream. */
    public void startDestination() {
        if (destination != null) {
            throw new IllegalStateException("the destination QEMU was already started");
        }
        QemuProcess qemu;
        synchronized (this) {
            requireOpen();
            String name = "netpass-lab-" + id + "-dst";
            qemu = QemuProcess.launch(name, guestName != null ? guestName : name, namespace("b"), directory, guest,
                    kernelArguments(), DESTINATION_TAP, vmMac, migrationUri());
            destination = qemu;
        }
        qemu.connect();
        String status = qemu.qmp().status();
        if (!status.equals("inmigrate")) {
            throw new IllegalStateException("destination QEMU is " + status + ", not inmigrate\n"
                    + qemu.diagnostics());
        }
    }

    /** {@link #migrateOnce(MigrationHooks, MigrationProbe.Kind, int)} with ICMP echo probes at 1,000/s. */
    public MigrationOutcome migrateOnce(MigrationHooks hooks) {
        return migrateOnce(hooks, MigrationProbe.Kind.ICMP_ECHO, MigrationProbe.DEFAULT_RATE);
    }

    /**
     * Runs one whole live migration: boots the source (unless already booted), starts the destination, probes the
     * guest at {@code probesPerSecond}, calls {@code hooks}, migrates, keeps probing for a second after the
     * switchover and returns what the probes saw. A lab migrates once; create another for the next run.
     */
    public MigrationOutcome migrateOnce(MigrationHooks hooks, MigrationProbe.Kind probeKind, int probesPerSecond) {
        if (migrated) {
            throw new IllegalStateException("this lab has already migrated its VM; create a new lab");
        }
        migrated = true;
        if (source == null) {
            bootSource();
        }
        if (destination == null) {
            startDestination();
        }
        QemuProcess from = Objects.requireNonNull(source);
        QemuProcess to = Objects.requireNonNull(destination);
        MigrationEndpoints endpoints = endpoints();
        try (MigrationProbe probe = MigrationProbe.start(probeTarget(), probeKind, probesPerSecond)) {
            // A quarter second of steady replies: the path through the switch is learnt and the guest keeps up.
            if (!probe.awaitReplies(Math.max(1, probesPerSecond / 4), BOOT_TIMEOUT)) {
                throw new IllegalStateException("the guest does not answer " + probeKind + " probes\n"
                        + from.diagnostics());
            }
            hooks.beforeMigration(endpoints);
            QmpClient.MigrationStatus status = migrate(from, to);
            Instant resumed = to.qmp().event("RESUME").map(QmpClient.Event::timestamp).orElseGet(Instant::now);
            hooks.afterMigration(endpoints);
            from.quit();
            sleepUntil(resumed.plus(PROBE_TAIL));
            boolean reportedBroken = to.output().contains(VIRTIO_BROKEN);
            MigrationOutcome outcome = probe.outcome(resumed, status.downtime(), status.totalTime(), reportedBroken);
            log.info("lab {} ({}): {}", id, hooks, outcome.summary());
            if (outcome.broken()) {
                log.warn("lab {}: destination guest stopped answering (QEMU 7.2 TCG virtio-net bug?)\n{}", id,
                        to.diagnostics());
            }
            return outcome;
        }
    }

    private QmpClient.MigrationStatus migrate(QemuProcess from, QemuProcess to) {
        from.qmp().execute("migrate", Map.of("uri", migrationUri()));
        long deadline = System.nanoTime() + MIGRATION_TIMEOUT.toNanos();
        QmpClient.MigrationStatus status = from.qmp().queryMigrate();
        while (!status.finished()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("migration still " + status.status() + " after " + MIGRATION_TIMEOUT);
            }
            sleep(MIGRATION_POLL);
            status = from.qmp().queryMigrate();
        }
        if (!status.status().equals("completed")) {
            throw new IllegalStateException("migration " + status.status() + ": " + status.error() + "\n"
                    + from.diagnostics() + "\n" + to.diagnostics());
        }
        // The source reports completion once the stream is sent; the destination resumes once it has loaded it.
        long resumeDeadline = System.nanoTime() + COMMAND_TIMEOUT.toNanos();
        String destinationStatus = to.qmp().status();
        while (!destinationStatus.equals("running")) {
            if (System.nanoTime() > resumeDeadline) {
                throw new IllegalStateException("destination is " + destinationStatus + " after the migration\n"
                        + to.diagnostics());
            }
            sleep(MIGRATION_POLL);
            destinationStatus = to.qmp().status();
        }
        return status;
    }

    private String kernelArguments() {
        return "console=ttyS0 panic=-1 quiet netpass.ip=%s/%d netpass.peer=%s netpass.peermac=%s"
                .formatted(GUEST_IP, PREFIX_LENGTH, CLIENT_IP, clientMac);
    }

    private String migrationUri() {
        return "unix:" + directory.resolve("migration.sock");
    }

    private void buildNetwork() {
        for (String role : List.of("s", "a", "b", "c")) {
            String namespace = namespace(role);
            synchronized (this) {
                requireOpen();
                ip("netns", "add", namespace);
                namespaces.add(namespace);
            }
            // No IPv6: router solicitations and DAD would only add noise to captures.
            run("ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1");
            ip("-n", namespace, "link", "set", "lo", "up");
        }
        String switchNamespace = namespace("s");
        ip("-n", switchNamespace, "link", "add", "sw", "type", "bridge");
        ip("-n", switchNamespace, "link", "set", "sw", "up");
        buildHost("a", SOURCE_TAP);
        buildHost("b", DESTINATION_TAP);

        String client = namespace("c");
        ip("-n", switchNamespace, "link", "add", "port-c", "type", "veth", "peer", "name", CLIENT_INTERFACE,
                "netns", client);
        ip("-n", switchNamespace, "link", "set", "port-c", "master", "sw", "up");
        ip("-n", client, "link", "set", CLIENT_INTERFACE, "address", clientMac, "up");
        ip("-n", client, "addr", "add", CLIENT_IP + "/" + PREFIX_LENGTH, "dev", CLIENT_INTERFACE);
        // A static neighbour: the client never ARPs, so only the switch's learning decides where probes go.
        ip("-n", client, "neigh", "replace", GUEST_IP, "lladdr", vmMac, "dev", CLIENT_INTERFACE, "nud", "permanent");
    }

    private void buildHost(String role, String tap) {
        String host = namespace(role);
        ip("-n", host, "link", "add", "br0", "type", "bridge");
        ip("-n", host, "link", "set", "br0", "up");
        ip("-n", host, "tuntap", "add", "dev", tap, "mode", "tap");
        ip("-n", host, "link", "set", tap, "txqueuelen", Integer.toString(TAP_QUEUE_LENGTH), "master", "br0", "up");
        ip("-n", namespace("s"), "link", "add", "port-" + role, "type", "veth", "peer", "name", "uplink",
                "netns", host);
        ip("-n", namespace("s"), "link", "set", "port-" + role, "master", "sw", "up");
        ip("-n", host, "link", "set", "uplink", "master", "br0", "up");
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("lab " + id + " is closed");
        }
    }

    private String namespace(String role) {
        return "np-q" + id + "-" + role;
    }

    private Path namespacePath(String role) {
        return Path.of("/run/netns", namespace(role));
    }

    private static void ip(String... arguments) {
        String[] command = new String[arguments.length + 1];
        command[0] = "ip";
        System.arraycopy(arguments, 0, command, 1, arguments.length);
        run(command);
    }

    private static void run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            byte[] output = process.getInputStream().readAllBytes();
            if (!process.waitFor(COMMAND_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + " timed out");
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed (exit " + process.exitValue()
                        + "): " + new String(output, StandardCharsets.UTF_8).strip());
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", command), e);
        }
    }

    private static void sleepUntil(Instant when) {
        Duration left = Duration.between(Instant.now(), when);
        if (!left.isNegative()) {
            sleep(left);
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Kills both QEMUs and deletes the namespaces and files. Safe to call more than once, and on failure. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (QemuProcess qemu : new QemuProcess[] {source, destination}) {
            if (qemu != null) {
                try {
                    qemu.close();
                } catch (RuntimeException e) {
                    log.warn("lab {}: cannot stop {}", id, qemu.name(), e);
                }
            }
        }
        for (String namespace : namespaces.reversed()) {
            try {
                ip("netns", "delete", namespace);
            } catch (RuntimeException e) {
                log.warn("lab {}: {}", id, e.getMessage());
            }
        }
        try (Stream<Path> files = Files.exists(directory) ? Files.walk(directory) : Stream.empty()) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            log.warn("lab {}: cannot delete {}: {}", id, directory, e.getMessage());
        }
        if (Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // The JVM is already shutting down; the hook finds the lab closed.
            }
        }
    }
}
