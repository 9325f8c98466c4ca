package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;

/**
 * A network namespace that sockets can be opened in, given as a path ({@code /run/netns/NAME},
 * {@code /proc/PID/ns/net}) or as the agent's own.
 *
 * <p>A socket belongs for life to the namespace it was created in, so only the short creation step runs
 * inside the namespace, on a throw-away platform thread: {@code setns} changes the calling OS thread only, and
 * that thread then ends, so no other work of the agent ever runs in a foreign namespace.
 */
public final class NetworkNamespace {

    private static final NetworkNamespace AGENT = new NetworkNamespace(null);

    private final @Nullable Path path;

    private NetworkNamespace(@Nullable Path path) {
        this.path = path;
    }

    /** The namespace the agent itself runs in. */
    public static NetworkNamespace agent() {
        return AGENT;
    }

    /**
     * The namespace at {@code path}, checked by entering it once.
     *
     * @throws NotANetworkNamespaceException if the path cannot be opened or is not a network namespace
     */
    public static NetworkNamespace at(Path path) {
        NetworkNamespace namespace = new NetworkNamespace(path);
        namespace.call(() -> null);
        return namespace;
    }

    /** {@code null} for the agent's own namespace. */
    public @Nullable Path path() {
        return path;
    }

    /** Runs {@code body} on a thread inside this namespace and returns its result. */
    public <T> T call(Supplier<T> body) {
        if (path == null) {
            return body.get();
        }
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = Thread.ofPlatform().name("netns-enter").unstarted(() -> {
            try {
                enter(path);
                result.set(body.get());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while entering " + path, e);
        }
        Throwable thrown = failure.get();
        if (thrown instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (thrown instanceof Error error) {
            throw error;
        }
        if (thrown != null) {
            throw new IllegalStateException(thrown);
        }
        return result.get();
    }

    private static void enter(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = Libc.open(arena.allocateFrom(path.toString()), Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd < 0) {
                int errno = Libc.errno();
                throw new NotANetworkNamespaceException(path, new NativeCallException("open", path.toString(), errno));
            }
            try {
                if (Libc.setns(fd, Libc.CLONE_NEWNET) < 0) {
                    int errno = Libc.errno();
                    throw new NotANetworkNamespaceException(path, new NativeCallException("setns", path.toString(), errno));
                }
            } finally {
                Libc.close(fd);
            }
        }
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof NetworkNamespace that && Objects.equals(path, that.path);
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(path);
    }

    @Override
    public String toString() {
        return path == null ? "agent namespace" : path.toString();
    }
}
