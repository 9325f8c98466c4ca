package io.netpass.agent.testing;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.jspecify.annotations.Nullable;

/**
 * Numbered frames sent at a steady rate, which the test may change, from their own thread until {@link #close()}:
 * the client's traffic throughout a switchover. Frame {@code n} is {@link SequencedTraffic#frame(long)} of
 * {@code n}, from 0 on.
 */
public final class PacedTraffic implements AutoCloseable {

    private final SequencedTraffic frames;
    private final FrameSender sender;
    private final AtomicLong sent = new AtomicLong();
    private final Thread thread;
    private volatile long intervalNanos;
    private volatile boolean stopped;
    private volatile @Nullable Throwable failure;

    private PacedTraffic(SequencedTraffic frames, FrameSender sender, int framesPerSecond) {
        this.frames = frames;
        this.sender = sender;
        rate(framesPerSecond);
        // A thread of its own: on two cores the common pool has one worker, which the sender would hold throughout.
        this.thread = Thread.ofPlatform().daemon().name("paced-traffic").unstarted(this::send);
    }

    /** Starts sending {@code frames} through {@code sender} at {@code framesPerSecond}. */
    public static PacedTraffic start(SequencedTraffic frames, FrameSender sender, int framesPerSecond) {
        PacedTraffic traffic = new PacedTraffic(frames, sender, framesPerSecond);
        traffic.thread.start();
        return traffic;
    }

    private void send() {
        try {
            long due = System.nanoTime();
            for (long sequence = 0; !stopped; sequence++) {
                for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                    LockSupport.parkNanos(wait);
                }
                sender.send(frames.frame(sequence));
                sent.set(sequence + 1);
                due += intervalNanos;
            }
        } catch (RuntimeException | Error e) {
            failure = e;
        }
    }

    /** Sends at {@code framesPerSecond} from the next frame on. */
    public void rate(int framesPerSecond) {
        intervalNanos = TimeUnit.SECONDS.toNanos(1) / framesPerSecond;
    }

    /** Frames sent so far; also the number of the next. */
    public long sent() {
        return sent.get();
    }

    /**
     * Waits until {@code count} frames were sent.
     *
     * @throws AssertionError if that takes longer than {@code timeout} or sending failed
     */
    public void awaitSent(long count, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (sent.get() < count) {
            Throwable failed = failure;
            if (failed != null) {
                throw new AssertionError("sending failed", failed);
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(sent.get() + " of " + count + " frames sent within " + timeout);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    /**
     * Stops sending and waits for the sending thread; returns the number of frames sent.
     *
     * @throws AssertionError if sending failed
     */
    public long stop() {
        stopped = true;
        try {
            if (!thread.join(Duration.ofSeconds(10))) {
                throw new AssertionError("sending did not stop within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while stopping the traffic", e);
        }
        Throwable failed = failure;
        if (failed != null) {
            throw new AssertionError("sending failed", failed);
        }
        return sent.get();
    }

    @Override
    public void close() {
        stopped = true;
    }
}
