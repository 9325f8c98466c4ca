package io.netpass.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.jspecify.annotations.Nullable;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A minimal QMP client: one JSON object per line over QEMU's unix socket. Replies and asynchronous events are told
 * apart by a reader thread, so a command never hangs longer than its timeout and events (with QEMU's own
 * CLOCK_REALTIME timestamps) are kept for later.
 */
final class QmpClient implements AutoCloseable {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Duration POLL_INTERVAL = Duration.ofMillis(20);
    /** Queued by the reader when the connection ends, so a waiting command fails at once instead of timing out. */
    private static final JsonNode CONNECTION_CLOSED = JSON.readTree("{\"connection-closed\": true}");

    /** A QMP event as QEMU stamped it. */
    record Event(String name, Instant timestamp, JsonNode data) {
    }

    /** What {@code query-migrate} says; durations are absent until QEMU knows them. */
    record MigrationStatus(String status, @Nullable Duration downtime, @Nullable Duration totalTime,
            @Nullable String error) {

        boolean finished() {
            return status.equals("completed") || status.equals("failed") || status.equals("cancelled");
        }
    }

    private final String subject;
    private final SocketChannel channel;
    private final Duration timeout;
    private final BlockingQueue<JsonNode> replies = new LinkedBlockingQueue<>();
    private final List<Event> events = new CopyOnWriteArrayList<>();
    private final Thread reader;

    private QmpClient(String subject, SocketChannel channel, Duration timeout) {
        this.subject = subject;
        this.channel = channel;
        this.timeout = timeout;
        this.reader = Thread.ofPlatform().daemon().name("qmp-" + subject).start(this::readMessages);
    }

    /**
     * Connects to the QMP socket at {@code socket}, retrying until QEMU has created it, and leaves the capabilities
     * negotiation mode. {@code alive} tells whether the QEMU process still runs, so a QEMU that died on start fails
     * fast.
     */
    static QmpClient connect(String subject, Path socket, Duration timeout, BooleanSupplier alive) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
                QmpClient client = new QmpClient(subject, channel, timeout);
                try {
                    client.awaitReply("greeting");
                    client.execute("qmp_capabilities");
                    return client;
                } catch (RuntimeException e) {
                    client.close();
                    throw e;
                }
            } catch (IOException e) {
                if (!alive.getAsBoolean()) {
                    throw new IllegalStateException(subject + ": QEMU exited before its QMP socket opened", e);
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(subject + ": no QMP socket at " + socket + " within " + timeout, e);
                }
                sleep(POLL_INTERVAL);
            }
        }
    }

    /** Runs {@code command} without arguments and returns its {@code return} value. */
    JsonNode execute(String command) {
        return execute(command, Map.of());
    }

    /**
     * Runs {@code command} and returns its {@code return} value.
     *
     * @throws IllegalStateException with QEMU's error class and description if QEMU refuses it
     */
    synchronized JsonNode execute(String command, Map<String, ?> arguments) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("execute", command);
        if (!arguments.isEmpty()) {
            message.put("arguments", arguments);
        }
        byte[] line = (JSON.writeValueAsString(message) + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            ByteBuffer buffer = ByteBuffer.wrap(line);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        } catch (IOException e) {
            throw new IllegalStateException(subject + ": cannot send " + command, e);
        }
        JsonNode reply = awaitReply(command);
        if (reply.has("error")) {
            JsonNode error = reply.get("error");
            throw new IllegalStateException(subject + ": " + command + " failed: " + error.path("class").asString("")
                    + ": " + error.path("desc").asString(""));
        }
        return reply.path("return");
    }

    /** {@code query-status}: {@code running}, {@code paused}, {@code inmigrate}, {@code postmigrate}, ... */
    String status() {
        return execute("query-status").path("status").asString("");
    }

    MigrationStatus queryMigrate() {
        JsonNode info = execute("query-migrate");
        return new MigrationStatus(info.path("status").asString("none"), millis(info, "downtime"),
                millis(info, "total-time"), info.has("error-desc") ? info.get("error-desc").asString() : null);
    }

    /** The first event called {@code name} received so far. */
    Optional<Event> event(String name) {
        return events.stream().filter(event -> event.name().equals(name)).findFirst();
    }

    private static @Nullable Duration millis(JsonNode info, String field) {
        return info.has(field) ? Duration.ofMillis(info.get(field).asLong()) : null;
    }

    private JsonNode awaitReply(String what) {
        try {
            JsonNode reply = replies.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (reply == null) {
                throw new IllegalStateException(subject + ": no QMP reply to " + what + " within " + timeout);
            }
            if (reply == CONNECTION_CLOSED) {
                replies.add(CONNECTION_CLOSED);
                throw new IllegalStateException(subject + ": QMP connection closed while waiting for " + what);
            }
            return reply;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(subject + ": interrupted waiting for " + what, e);
        }
    }

    private void readMessages() {
        try (BufferedReader lines = new BufferedReader(
                new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode message = JSON.readTree(line);
                if (message.has("event")) {
                    JsonNode stamp = message.path("timestamp");
                    Instant at = Instant.ofEpochSecond(stamp.path("seconds").asLong(),
                            stamp.path("microseconds").asLong() * 1_000);
                    events.add(new Event(message.get("event").asString(), at, message.path("data")));
                } else {
                    // The greeting ({"QMP": ...}) and every reply ({"return": ...} / {"error": ...}), in order.
                    replies.add(message);
                }
            }
        } catch (IOException | RuntimeException e) {
            // The connection ended: QEMU quit or close() was called.
        } finally {
            replies.add(CONNECTION_CLOSED);
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

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // Nothing left to release.
        }
    }
}
