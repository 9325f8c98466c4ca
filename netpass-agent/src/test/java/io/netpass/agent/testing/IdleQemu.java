package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A real QEMU that does nothing: started frozen ({@code -S}, no firmware ever runs) in a lab namespace with the NICs
 * a test gives it, so that it holds its taps the way a VM's QEMU does, for the price of a few MiB and no CPU. Closed
 * with its lab.
 */
public final class IdleQemu implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(20);

    private final Process process;
    private final Path output;

    private IdleQemu(Process process, Path output) {
        this.process = process;
        this.output = output;
    }

    /**
     * Starts {@code qemu-system-x86_64} in {@code namespace} with {@code arguments} (its {@code -name}, {@code -netdev}
     * and {@code -device} options) and returns once it holds {@code taps} tun descriptors.
     */
    public static IdleQemu start(NamespaceLab lab, LabNamespace namespace, int taps, String... arguments) {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace.name(),
                "qemu-system-x86_64", "-S", "-machine", "q35,accel=tcg", "-m", "16", "-nodefaults",
                "-no-user-config", "-display", "none", "-monitor", "none", "-serial", "none"));
        command.addAll(List.of(arguments));
        try {
            Path output = Files.createTempFile("idle-qemu", ".log");
            // ip netns exec execs: the process is QEMU itself, as a VM's QEMU is.
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            IdleQemu qemu = lab.own(new IdleQemu(process, output));
            qemu.awaitTaps(taps);
            return qemu;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start QEMU", e);
        }
    }

    public int pid() {
        return Math.toIntExact(process.pid());
    }

    public boolean alive() {
        return process.isAlive();
    }

    private void awaitTaps(int taps) {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (tunDescriptors() < taps || !qemuExecuted()) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("QEMU did not open " + taps + " taps: " + log());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    private boolean qemuExecuted() {
        try {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(process.pid()), "exe")).toString()
                    .contains("qemu-system");
        } catch (IOException e) {
            return false;
        }
    }

    private long tunDescriptors() {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(process.pid()), "fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().equals("/dev/net/tun");
                } catch (IOException e) {
                    return false;
                }
            }).count();
        } catch (IOException e) {
            return 0;
        }
    }

    private String log() {
        try {
            return Files.readString(output);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        ChildProcesses.stop(process, Duration.ofSeconds(5));
        try {
            Files.deleteIfExists(output);
        } catch (IOException e) {
            // a temp file left behind
        }
    }
}
