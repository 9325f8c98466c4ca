package io.netpass.agent.testing;

import java.nio.file.Path;
import java.time.Duration;

import org.jspecify.annotations.Nullable;

import io.netpass.agent.linux.NetworkNamespace;

/** One named network namespace of a {@link NamespaceLab}, reachable by {@code ip -n} and by path. */
public final class LabNamespace {

    private static final Duration READY_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration READY_POLL = Duration.ofMillis(10);

    private final String name;
    private @Nullable NetworkNamespace network;

    LabNamespace(String name) {
        this.name = name;
    }

    /** The name under {@code /run/netns}, e.g. {@code np-3f9a1c-src}. */
    public String name() {
        return name;
    }

    /** {@code /run/netns/NAME}, the path the agent is given for a namespace. */
    public Path path() {
        return Path.of("/run/netns", name);
    }

    /** The namespace as the linux layer opens sockets in it. */
    public synchronized NetworkNamespace network() {
        if (network == null) {
            network = NetworkNamespace.at(path());
        }
        return network;
    }

    /** Runs {@code ip ARGS} inside this namespace and returns its output. */
    public String ip(String... args) {
        String[] command = new String[args.length + 3];
        command[0] = "ip";
        command[1] = "-n";
        command[2] = name;
        System.arraycopy(args, 0, command, 3, args.length);
        return NamespaceLab.run(command);
    }

    /**
     * Waits until interface {@code name} can carry frames: a qdisc attached, operationally up and, if it is a bridge
     * port, forwarding. The kernel does the first two from deferred link-watch work, up to a second after carrier
     * comes up (more when other links change), and until then drops every frame sent through the interface.
     *
     * @throws IllegalStateException if that takes more than 5 s
     */
    public void awaitReady(String name) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            String link = ip("-j", "-d", "link", "show", "dev", name);
            boolean attached = !link.contains("\"qdisc\":\"noop\"");
            boolean up = link.contains("\"operstate\":\"UP\"") || link.contains("\"operstate\":\"UNKNOWN\"");
            boolean forwarding = !link.contains("\"info_slave_kind\":\"bridge\"")
                    || link.contains("\"state\":\"forwarding\"");
            if (attached && up && forwarding) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(name + " in " + this + " not ready in " + READY_TIMEOUT + ": " + link);
            }
            try {
                Thread.sleep(READY_POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for " + name + " in " + this, e);
            }
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
