package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * What every launcher of a test's child process needs (agents, controllers, Prometheus, the chart's rendered pods):
 * a free loopback port, a graceful stop, a pause. One place, so that they all stop a process the same way.
 */
public final class ChildProcesses {

    private ChildProcesses() {
    }

    /** A loopback port free right now (the child binds it a moment later; nothing else here races for it). */
    public static int freeLoopbackPort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free loopback port", e);
        }
    }

    /**
     * Stops {@code process}: SIGTERM (a graceful shutdown: an agent disarms, a controller saves its state), then
     * SIGKILL if it is still running after {@code grace}.
     */
    public static void stop(Process process, Duration grace) {
        process.destroy();
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }

    /** {@link Thread#sleep}, for polling loops that are not expected to be interrupted. */
    public static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
