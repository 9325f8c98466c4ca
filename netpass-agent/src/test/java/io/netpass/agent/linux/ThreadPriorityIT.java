package io.netpass.agent.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The release path's scheduling, set with real syscalls on real threads (root has CAP_SYS_NICE). */
class ThreadPriorityIT {

    private static final Duration LIMIT = Duration.ofSeconds(1);

    @AfterEach
    void unconfigure() {
        ThreadPriority.configure(0, 0, LIMIT);
    }

    @Test
    void aReleasePathThreadGetsTheNiceValueAndItsBurstRunsUnderSchedFifoThenReturns() throws Exception {
        ThreadPriority.configure(-10, 1, LIMIT);
        ThreadPriority.Scheduling callerBefore = ThreadPriority.current();
        AtomicReference<ThreadPriority.Scheduling> duringBurst = new AtomicReference<>();

        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            ThreadPriority.enterReleasePath();
            ThreadPriority.Scheduling entered = ThreadPriority.current();
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                duringBurst.set(ThreadPriority.current());
            }
            return new ThreadPriority.Scheduling[] {entered, ThreadPriority.current()};
        });

        assertThat(seen[0]).isEqualTo(new ThreadPriority.Scheduling(0, true, -10));
        assertThat(duringBurst.get().realTime()).as("%s", duringBurst.get()).isTrue();
        assertThat(seen[1]).as("after the burst").isEqualTo(new ThreadPriority.Scheduling(0, true, -10));
        assertThat(ThreadPriority.current()).as("the thread that configured it").isEqualTo(callerBefore);
    }

    @Test
    void threadsThatAReleasePathThreadStartsGetTheOrdinaryScheduling() throws Exception {
        ThreadPriority.configure(-10, 1, LIMIT);
        ThreadPriority.Scheduling ordinary = ThreadPriority.current();
        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            ThreadPriority.enterReleasePath();
            ThreadPriority.Scheduling startedOnThePath = onANewThread(
                    () -> new ThreadPriority.Scheduling[] {ThreadPriority.current()})[0];
            AtomicReference<ThreadPriority.Scheduling> startedInTheBurst = new AtomicReference<>();
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                startedInTheBurst.set(onANewThread(
                        () -> new ThreadPriority.Scheduling[] {ThreadPriority.current()})[0]);
            }
            return new ThreadPriority.Scheduling[] {startedOnThePath, startedInTheBurst.get()};
        });

        assertThat(seen[0]).as("started on the release path").isEqualTo(ordinary);
        assertThat(seen[1]).as("started during a burst").isEqualTo(ordinary);
    }

    @Test
    void unconfiguredNothingChanges() throws Exception {
        AtomicReference<ThreadPriority.Scheduling> duringBurst = new AtomicReference<>();
        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            ThreadPriority.Scheduling before = ThreadPriority.current();
            ThreadPriority.enterReleasePath();
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                duringBurst.set(ThreadPriority.current());
                burst.end();
                assertThat(burst.realTimeNanos()).as("never under SCHED_FIFO").isEqualTo(-1);
            }
            return new ThreadPriority.Scheduling[] {before, ThreadPriority.current()};
        });

        assertThat(seen[1]).isEqualTo(seen[0]);
        assertThat(duringBurst.get()).isEqualTo(seen[0]);
        assertThat(duringBurst.get().realTime()).isFalse();
    }

    @Test
    void aBurstThatThrowsStillGivesTheThreadItsPolicyBack() throws Exception {
        ThreadPriority.configure(0, 1, LIMIT);
        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                throw new IllegalStateException("burst failed");
            } catch (IllegalStateException expected) {
                // what the caller would see
            }
            return new ThreadPriority.Scheduling[] {ThreadPriority.current()};
        });
        assertThat(seen[0].realTime()).isFalse();
    }

    @Test
    void aBurstGivesTheCpuBackByItselfOnceItsLimitHasPassed() throws Exception {
        ThreadPriority.configure(-10, 1, Duration.ofMillis(5));
        long[] realTimeNanos = new long[1];
        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            ThreadPriority.enterReleasePath();
            ThreadPriority.Scheduling during;
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                during = ThreadPriority.current();
                // A burst that would go on for ever, as one that has frames left past its limit does.
                while (burst.realTime()) {
                    burst.endIfOverdue();
                    Thread.onSpinWait();
                }
                realTimeNanos[0] = burst.realTimeNanos();
                return new ThreadPriority.Scheduling[] {during, ThreadPriority.current()};
            }
        });

        assertThat(seen[0].realTime()).as("%s", seen[0]).isTrue();
        assertThat(seen[1]).as("once overdue").isEqualTo(new ThreadPriority.Scheduling(0, true, -10));
        assertThat(realTimeNanos[0]).isBetween(Duration.ofMillis(5).toNanos(), Duration.ofSeconds(1).toNanos());
    }

    @Test
    void valuesOutOfTheKernelsRangesAreRefused() {
        assertThatThrownBy(() -> ThreadPriority.configure(-21, 0, LIMIT))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ThreadPriority.configure(20, 0, LIMIT)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ThreadPriority.configure(0, 100, LIMIT))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ThreadPriority.configure(0, -1, LIMIT)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ThreadPriority.configure(0, 1, Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** Runs {@code work} on a platform thread of its own, so that the test's thread keeps its scheduling. */
    private static ThreadPriority.Scheduling[] onANewThread(Callable<ThreadPriority.Scheduling[]> work)
            throws Exception {
        CompletableFuture<ThreadPriority.Scheduling[]> result = new CompletableFuture<>();
        Thread.ofPlatform().name("release-path-test").start(() -> {
            try {
                result.complete(work.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result.get(10, TimeUnit.SECONDS);
    }
}
