package io.netpass.agent.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
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
    void withoutCapSysNiceTheBurstRunsAtTheOrdinaryPolicyAndSaysSo() throws Exception {
        ThreadPriority.configure(-10, 1, LIMIT);
        long[] realTimeNanos = new long[1];
        ThreadPriority.Scheduling[] seen = onANewThread(() -> {
            // Capabilities are the thread's own: only this one loses CAP_SYS_NICE, as an agent without it would.
            dropCapSysNiceFromThisThread();
            ThreadPriority.enterReleasePath();
            ThreadPriority.Scheduling before = ThreadPriority.current();
            try (ThreadPriority.RealTimeBurst burst = ThreadPriority.realTimeBurst()) {
                ThreadPriority.Scheduling during = ThreadPriority.current();
                assertThat(burst.realTime()).isFalse();
                burst.end();
                realTimeNanos[0] = burst.realTimeNanos();
                return new ThreadPriority.Scheduling[] {before, during};
            }
        });

        assertThat(seen[0].nice()).as("nice -10 refused too").isZero();
        assertThat(seen[1]).as("refused: as before").isEqualTo(seen[0]);
        assertThat(seen[1].realTime()).isFalse();
        assertThat(realTimeNanos[0]).isEqualTo(-1);
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

    /** capget/capset(2) on the calling thread: CAP_SYS_NICE (23) leaves its effective and permitted sets. */
    private static void dropCapSysNiceFromThisThread() {
        Linker linker = Linker.nativeLinker();
        FunctionDescriptor call = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
        MethodHandle capget = linker.downcallHandle(linker.defaultLookup().find("capget").orElseThrow(), call);
        MethodHandle capset = linker.downcallHandle(linker.defaultLookup().find("capset").orElseThrow(), call);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment header = arena.allocate(8);
            header.set(JAVA_INT, 0, 0x20080522); // _LINUX_CAPABILITY_VERSION_3
            header.set(JAVA_INT, 4, 0); // this thread
            // Two {effective, permitted, inheritable} words: capabilities 0-31, then 32-63.
            MemorySegment data = arena.allocate(24);
            assertThat((int) capget.invokeExact(header, data)).isZero();
            int sysNice = ~(1 << 23);
            data.set(JAVA_INT, 0, data.get(JAVA_INT, 0) & sysNice);
            data.set(JAVA_INT, 4, data.get(JAVA_INT, 4) & sysNice);
            assertThat((int) capset.invokeExact(header, data)).isZero();
        } catch (Throwable e) {
            throw new IllegalStateException("capget/capset failed", e);
        }
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
