package io.netpass.bench;

import java.io.File;
import java.io.IOException;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import io.netpass.agent.testing.NamespaceLab;

/**
 * A busy hypervisor host in miniature: a thread that keeps creating network namespaces with a veth pair and a
 * bridge, and deleting them, as libvirt and CNI plugins do around VMs and containers. Each deletion tears devices
 * down under the kernel's RTNL lock, and every rtnetlink request on the host (the tap counters a capture session
 * reads, too) waits for it. Namespaces are named {@code np-ID-churnN}, so {@code .ci/cleanup-lab.sh} removes any a
 * crash leaves.
 */
final class NamespaceChurn implements AutoCloseable {

    private final String prefix = NamespaceLab.PREFIX
            + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt() & 0xffffff, 6) + "-churn";
    private final Thread thread = Thread.ofPlatform().daemon().name("namespace-churn").unstarted(this::churn);
    private volatile boolean stopping;
    private volatile long cycles;

    /** Starts churning. */
    NamespaceChurn start() {
        thread.start();
        return this;
    }

    /** Namespaces created and deleted so far. */
    long cycles() {
        return cycles;
    }

    private void churn() {
        for (long n = 0; !stopping; n++) {
            String name = prefix + (n % 1000);
            run("ip", "netns", "add", name);
            run("ip", "-n", name, "link", "add", "name", "va", "type", "veth", "peer", "name", "vb");
            run("ip", "-n", name, "link", "add", "name", "br", "type", "bridge");
            run("ip", "-n", name, "link", "set", "va", "master", "br", "up");
            run("ip", "netns", "delete", name);
            cycles++;
        }
    }

    private static void run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        stopping = true;
        thread.join();
    }
}
