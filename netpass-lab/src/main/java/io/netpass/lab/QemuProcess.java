package io.netpass.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.jspecify.annotations.Nullable;

/**
 * One QEMU of the lab, started inside a network namespace with {@code ip netns exec} (which execs, so the process
 * is QEMU itself), with its serial console and its own output in files and a QMP socket.
 */
final class QemuProcess implements AutoCloseable {

    private static final Duration QMP_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(5);

    private final String name;
    private final Process process;
    private final Path console;
    private final Path output;
    private final Path qmpSocket;
    private volatile @Nullable QmpClient qmp;

    private QemuProcess(String name, Process process, Path console, Path output, Path qmpSocket) {
        this.name = name;
        this.process = process;
        this.console = console;
        this.output = output;
        this.qmpSocket = qmpSocket;
    }

    /**
     * Starts QEMU as {@code name} (its files) with guest name {@code guestName} (its {@code -name}, what libvirt
     * names the domain) in namespace {@code namespace}, with the VM's NIC on the existing tap {@code tap}.
     * With {@code incoming} set it waits for a migration stream there instead of booting. Returns at once; call
     * {@link #connect()} before using {@link #qmp()}.
     */
    static QemuProcess launch(String name, String guestName, String namespace, Path directory, GuestImage guest,
            String kernelArguments, String tap, String mac, @Nullable String incoming) {
        Path console = directory.resolve(name + ".console");
        Path output = directory.resolve(name + ".log");
        Path qmpSocket = directory.resolve(name + ".qmp");
        List<String> command = new ArrayList<>(List.of(
                "ip", "netns", "exec", namespace,
                "qemu-system-x86_64",
                "-name", "guest=" + guestName,
                "-accel", "tcg",
                "-m", "128",
                "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
                "-serial", "file:" + console,
                "-monitor", "none",
                "-kernel", guest.kernel().toString(),
                "-initrd", guest.initramfs().toString(),
                "-append", kernelArguments,
                // vhost=off: no /dev/vhost-net here; QEMU itself reads the tap, as the kernel facts assume.
                "-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no,vhost=off",
                // romfile=: a -kernel boot needs no PXE ROM, and both sides must agree on it for migration.
                "-device", "virtio-net-pci,netdev=n0,mac=" + mac + ",romfile=",
                "-qmp", "unix:" + qmpSocket + ",server=on,wait=off"));
        if (incoming != null) {
            command.addAll(List.of("-incoming", incoming));
        }
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                    .start();
            return new QemuProcess(name, process, console, output, qmpSocket);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start QEMU " + name, e);
        }
    }

    /** Connects to QEMU's QMP socket, waiting until QEMU has opened it. */
    void connect() {
        try {
            qmp = QmpClient.connect(name, qmpSocket, QMP_TIMEOUT, process::isAlive);
        } catch (RuntimeException e) {
            throw new IllegalStateException(e.getMessage() + "\n" + tail(output), e);
        }
    }

    String name() {
        return name;
    }

    QmpClient qmp() {
        QmpClient client = qmp;
        if (client == null) {
            throw new IllegalStateException(name + ": QMP not connected");
        }
        return client;
    }

    /** The QEMU process itself ({@code ip netns exec} execs QEMU). */
    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    /** What QEMU itself printed (errors such as virtio's "is not a head"). */
    String output() {
        return read(output);
    }

    /** The guest's serial console so far. */
    String console() {
        return read(console);
    }

    /** The last lines of QEMU's output and of the console, for failure messages. */
    String diagnostics() {
        return name + " output:\n" + tail(output) + "\n" + name + " console:\n" + tail(console);
    }

    /** Asks QEMU to quit and waits for it; kills it if it does not. */
    void quit() {
        if (!process.isAlive()) {
            return;
        }
        try {
            qmp().execute("quit");
            process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            // The connection drops as QEMU exits; whatever happened, close() makes sure it is gone.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close();
    }

    /** Kills QEMU (if it still runs) and waits until it is gone. */
    @Override
    public void close() {
        QmpClient client = qmp;
        if (client != null) {
            client.close();
        }
        if (!process.isAlive()) {
            return;
        }
        process.destroyForcibly();
        try {
            process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String read(Path file) {
        try {
            // The console holds terminal escapes and whatever the guest printed: decode leniently.
            return Files.exists(file) ? new String(Files.readAllBytes(file), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }

    private static String tail(Path file) {
        List<String> lines = read(file).lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }
}
