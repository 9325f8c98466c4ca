package io.netpass.agent.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.jspecify.annotations.Nullable;

/**
 * Network namespaces built with {@code ip} for one test: hosts with a bridge, clients wired to them by veth pairs,
 * hosts wired to each other. Every namespace is named {@code np-ID-ROLE} with a random ID, so labs of parallel or
 * crashed runs never clash, and is deleted on {@link #close()} (or, as a safety net, when the JVM exits).
 *
 * <p>Shelling out to {@code ip} is fine here: it builds the world around the data path, never the data path.
 *
 * <pre>{@code
 * try (NamespaceLab lab = new NamespaceLab()) {
 *     Host host = lab.host("src");
 *     Client client = lab.client("c1", host);             // c1:eth0 -- veth -- src:br0
 *     FakeVm vm = host.startVm("tap0", vmMac);            // src:br0 -- tap0 -- fake VM
 * }
 * }</pre>
 */
public final class NamespaceLab implements AutoCloseable {

    /** Prefix of every namespace a lab creates; {@link #removeLeftovers()} deletes namespaces by it. */
    public static final String PREFIX = "np-";

    private static final Pattern ROLE = Pattern.compile("[a-z][a-z0-9]{0,7}");
    private static final long COMMAND_TIMEOUT_SECONDS = 10;
    // Locally administered, unicast: 02:6e:70 ("np") then a per-lab counter.
    private static final long CLIENT_MAC_BASE = 0x02_6e_70_00_00_00L;

    private final String id = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt() & 0xffffff, 6);
    private final List<LabNamespace> namespaces = new ArrayList<>();
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private final Thread shutdownHook = Thread.ofPlatform().unstarted(this::closeQuietly);
    private int clients;
    private boolean closed;

    /** An empty lab; namespaces are created on demand. */
    public NamespaceLab() {
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** The random part of this lab's namespace names. */
    public String id() {
        return id;
    }

    /**
     * A new, empty namespace {@code np-ID-ROLE} with IPv6 off, so that no router solicitation, MLD report or DAD
     * probe ever shares a port with the frames a test sends and counts.
     */
    public LabNamespace namespace(String role) {
        return register(role, "add");
    }

    /**
     * The network namespace of process {@code pid} (e.g. a container's), which this lab did not create, named
     * {@code np-ID-ROLE} by {@code ip netns attach} and with IPv6 off as in {@link #namespace(String)}. Closing the
     * lab removes the name only: the namespace lives on as long as the process.
     */
    public LabNamespace attachedNamespace(String role, long pid) {
        return register(role, "attach", Long.toString(pid));
    }

    private synchronized LabNamespace register(String role, String... ipNetns) {
        if (closed) {
            throw new IllegalStateException("lab " + id + " is closed");
        }
        if (!ROLE.matcher(role).matches()) {
            throw new IllegalArgumentException("role must match " + ROLE + " (it names interfaces): " + role);
        }
        LabNamespace namespace = new LabNamespace(PREFIX + id + "-" + role);
        List<String> command = new ArrayList<>(List.of("ip", "netns", ipNetns[0], namespace.name()));
        command.addAll(List.of(ipNetns).subList(1, ipNetns.length));
        run(command.toArray(String[]::new));
        namespaces.add(namespace);
        run("ip", "netns", "exec", namespace.name(), "sysctl", "-q", "-w",
                "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        return namespace;
    }

    /**
     * A new host namespace with bridge {@value Host#BRIDGE} up. Multicast snooping is off: a snooping bridge joins
     * the all-snoopers group and floods its own IGMP reports to every port, tap included.
     */
    public Host host(String role) {
        return withBridge(role, namespace(role));
    }

    /**
     * A host in the network namespace of process {@code pid}, e.g. a container an agent runs in, with bridge
     * {@value Host#BRIDGE} as in {@link #host(String)}; see {@link #attachedNamespace(String, long)}.
     */
    public Host attachedHost(String role, long pid) {
        return withBridge(role, attachedNamespace(role, pid));
    }

    private Host withBridge(String role, LabNamespace namespace) {
        namespace.ip("link", "add", Host.BRIDGE, "type", "bridge", "mcast_snooping", "0");
        namespace.ip("link", "set", Host.BRIDGE, "up");
        return new Host(this, role, namespace);
    }

    /**
     * A new client namespace whose {@value Client#INTERFACE} is wired by a veth pair to port {@code c-ROLE} of
     * {@code host}'s bridge; returns once both ends carry frames. Clients get distinct addresses
     * {@code 02:6e:70:00:00:NN}.
     */
    public Client client(String role, Host host) {
        LabNamespace namespace = namespace(role);
        EthernetAddress mac;
        synchronized (this) {
            mac = new EthernetAddress(CLIENT_MAC_BASE + ++clients);
        }
        String hostPort = "c-" + role;
        host.ip("link", "add", hostPort, "type", "veth", "peer", "name", Client.INTERFACE, "netns", namespace.name());
        namespace.ip("link", "set", Client.INTERFACE, "address", mac.toString(), "up");
        host.attach(hostPort);
        namespace.awaitReady(Client.INTERFACE);
        return new Client(namespace, mac, host, hostPort);
    }

    /**
     * Wires the bridges of {@code a} and {@code b} by a veth pair: port {@code h-ROLE_OF_B} on {@code a},
     * {@code h-ROLE_OF_A} on {@code b}.
     */
    public void connect(Host a, Host b) {
        String portOnA = "h-" + b.role();
        String portOnB = "h-" + a.role();
        a.ip("link", "add", portOnA, "type", "veth", "peer", "name", portOnB, "netns", b.namespace().name());
        a.plug(portOnA);
        b.attach(portOnB);
        a.namespace().awaitReady(portOnA);
    }

    /** Makes the lab close {@code resource} before it deletes its namespaces. */
    synchronized <T extends AutoCloseable> T own(T resource) {
        owned.push(resource);
        return resource;
    }

    /**
     * Deletes every namespace named {@code np-*}: labs of crashed runs. Only for when no lab is running (before or
     * after a whole test run), since it takes the namespaces of live labs too.
     *
     * @return the names deleted
     */
    public static List<String> removeLeftovers() {
        List<String> removed = new ArrayList<>();
        for (String line : run("ip", "netns", "list").split("\n")) {
            String name = line.strip().split("\\s+", 2)[0];
            if (name.startsWith(PREFIX)) {
                run("ip", "netns", "delete", name);
                removed.add(name);
            }
        }
        return removed;
    }

    /** Closes what the lab owns (fake VMs), then deletes its namespaces. */
    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // The hook itself is running this.
        }
        RuntimeException failure = null;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            while (!owned.isEmpty()) {
                try {
                    owned.pop().close();
                } catch (Exception e) {
                    failure = collect(failure, e);
                }
            }
            for (LabNamespace namespace : namespaces.reversed()) {
                try {
                    run("ip", "netns", "delete", namespace.name());
                } catch (RuntimeException e) {
                    failure = collect(failure, e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (RuntimeException e) {
            System.err.println("namespace lab " + id + " not fully removed: " + e.getMessage());
        }
    }

    private static RuntimeException collect(@Nullable RuntimeException first, Exception next) {
        if (first == null) {
            return next instanceof RuntimeException runtime ? runtime : new IllegalStateException(next);
        }
        first.addSuppressed(next);
        return first;
    }

    /** Runs {@code command}, waiting at most 10 s; returns its output or throws with it. */
    static String run(String... command) {
        String shown = String.join(" ", command);
        Path output = null;
        try {
            output = Files.createTempFile("netpass-lab-", ".out");
            // Output goes to a file, not a pipe, so a command that hangs cannot hang the read: waitFor times out.
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!process.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(shown + " did not finish in " + COMMAND_TIMEOUT_SECONDS + " s");
            }
            String text = Files.readString(output);
            if (process.exitValue() != 0) {
                throw new IllegalStateException(shown + " failed (exit " + process.exitValue() + "): " + text.strip());
            }
            return text;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + shown, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + shown, e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException ignored) {
                    // A leftover file in the temp directory is harmless.
                }
            }
        }
    }
}
