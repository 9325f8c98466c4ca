package io.netpass.agent.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP proxy on loopback between two agents, so a test can cut their connection mid-stream ({@link #cut()}: every
 * open connection reset at once, new ones accepted as before) and slow the answers down so that a cut lands inside
 * a stream rather than after it.
 */
public final class TcpProxy implements AutoCloseable {

    private static final int CHUNK = 4096;

    private final ServerSocket server;
    private final int targetPort;
    private final long bytesPerSecond;
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicInteger cuts = new AtomicInteger();
    private final AtomicLong bytesToClient = new AtomicLong();
    private final Thread acceptor;
    private volatile boolean closed;

    private TcpProxy(int targetPort, long bytesPerSecond) throws IOException {
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.targetPort = targetPort;
        this.bytesPerSecond = bytesPerSecond;
        this.acceptor = Thread.ofPlatform().daemon().name("proxy-accept-" + server.getLocalPort())
                .start(this::acceptLoop);
    }

    /** A proxy to {@code 127.0.0.1:targetPort} that passes answers at most at {@code bytesPerSecond}. */
    public static TcpProxy to(int targetPort, long bytesPerSecond) {
        try {
            return new TcpProxy(targetPort, bytesPerSecond);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** {@code http://127.0.0.1:PORT}. */
    public URI uri() {
        return uri("http");
    }

    /** The proxy's address for a client speaking {@code scheme} ({@code https} through to a TLS server). */
    public URI uri(String scheme) {
        return URI.create(scheme + "://127.0.0.1:" + server.getLocalPort());
    }

    /** Connections accepted so far. */
    public int accepted() {
        return accepted.get();
    }

    /** Times {@link #cut()} reset at least one open connection. */
    public int cuts() {
        return cuts.get();
    }

    /** Bytes passed from the target to clients so far. */
    public long bytesToClient() {
        return bytesToClient.get();
    }

    /** Resets every open connection, both sides, as a failing link or a crashed middlebox would. */
    public void cut() {
        boolean any = false;
        for (Socket socket : open) {
            any = true;
            reset(socket);
        }
        open.clear();
        if (any) {
            cuts.incrementAndGet();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket target = new Socket();
                try {
                    target.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort), 5_000);
                } catch (IOException e) {
                    reset(client);
                    continue;
                }
                accepted.incrementAndGet();
                open.add(client);
                open.add(target);
                Thread.ofPlatform().daemon().name("proxy-up").start(() -> pump(client, target, 0));
                Thread.ofPlatform().daemon().name("proxy-down").start(() -> pump(target, client, bytesPerSecond));
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("proxy accept failed: " + e);
                }
            }
        }
    }

    private void pump(Socket from, Socket to, long rate) {
        byte[] buffer = new byte[CHUNK];
        long start = System.nanoTime();
        long passed = 0;
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int read;
            while ((read = in.read(buffer)) >= 0) {
                out.write(buffer, 0, read);
                out.flush();
                passed += read;
                if (rate > 0) {
                    bytesToClient.addAndGet(read);
                    long due = start + passed * 1_000_000_000L / rate;
                    for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                        LockSupport.parkNanos(wait);
                    }
                }
            }
            to.shutdownOutput();
        } catch (IOException e) {
            // Cut, or the other side went away: both ends are reset.
            reset(from);
            reset(to);
        }
    }

    private static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0);
        } catch (SocketException ignored) {
            // Already closed.
        }
        try {
            socket.close();
        } catch (IOException ignored) {
            // Already closed.
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // Nothing left to do.
        }
        cut();
        try {
            acceptor.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
