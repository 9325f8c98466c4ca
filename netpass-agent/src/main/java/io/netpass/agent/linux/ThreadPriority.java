package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * How the destination's threads on the release path are scheduled: the ones that see its VM run and receive the
 * source's final count (that one injects the kept frames at once when they fit the room made in the tap's ring).
 * A release is a chain of wake-ups and a burst of injection that last milliseconds, once per migration. On a host
 * whose CPUs are busy, every runnable thread beside them takes turns with them (the agents' other threads, the VMs,
 * the host's own work), and each turn stretches the release (docs/performance.md). So these threads run at a lower
 * nice value, and the burst of frames held at the release under SCHED_FIFO: it then runs until it is done or waits
 * for the VM to make room. Only for a bounded time ({@link RealTimeBurst}): a thread under SCHED_FIFO takes a CPU from
 * every ordinary thread of the host, and a source's capture on the same host falls behind if that lasts (a CI run
 * overflowed one while a destination injected a resumed stream's chunks under it for seconds). Linux schedules each
 * thread on its own, so only these change.
 *
 * <p>The source's threads keep the ordinary scheduling on purpose: its final count must come after the source
 * QEMU's last reads of the tap, which its main loop makes right after the migration ends, at about the moment the
 * moved VM announces itself (docs/reconciliation.md, "The frame QEMU holds"); a source count that wins the CPU
 * from that main loop is taken too early.
 *
 * <p>Threads these threads start (a pool's first worker, say) would inherit both; SCHED_RESET_ON_FORK gives them
 * the agent's ordinary scheduling instead. Both need CAP_SYS_NICE (and, on a kernel with RT group scheduling,
 * real-time runtime in the agent's cgroup); without it the kernel refuses, which is logged once, and the threads
 * run as the agent's others do.
 */
public final class ThreadPriority {

    private static final Logger log = LoggerFactory.getLogger(ThreadPriority.class);
    private static final AtomicBoolean NICE_REFUSAL_LOGGED = new AtomicBoolean();
    private static final AtomicBoolean REAL_TIME_REFUSAL_LOGGED = new AtomicBoolean();
    /** One {@code struct sched_param} per thread. */
    private static final ThreadLocal<MemorySegment> SCHED_PARAM =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(JAVA_INT));

    private static volatile int releasePathNice;
    private static volatile int burstRealTimePriority;
    private static volatile long burstRealTimeLimitNanos;

    /**
     * A thread's scheduling: its policy ({@code SCHED_OTHER} 0, {@code SCHED_FIFO} 1, …), whether threads it starts
     * get the ordinary one ({@code SCHED_RESET_ON_FORK}), and its nice value.
     */
    public record Scheduling(int policy, boolean resetOnFork, int nice) {

        public boolean realTime() {
            return policy == Libc.SCHED_FIFO;
        }
    }

    private ThreadPriority() {
    }

    /**
     * Sets what {@link #enterReleasePath()} and {@link #realTimeBurst()} give; (0, 0, any), the start, changes
     * nothing.
     *
     * @param nice the release path's nice value, -20 to 19
     * @param realTimePriority the burst's SCHED_FIFO priority, 1 to 99; 0 for none
     * @param realTimeLimit how long a burst may run under SCHED_FIFO, positive
     */
    public static void configure(int nice, int realTimePriority, Duration realTimeLimit) {
        if (nice < -20 || nice > 19) {
            throw new IllegalArgumentException("nice must be between -20 and 19, not " + nice);
        }
        if (realTimePriority < 0 || realTimePriority > 99) {
            throw new IllegalArgumentException("a SCHED_FIFO priority is between 1 and 99 (0: none), not "
                    + realTimePriority);
        }
        if (realTimeLimit.isNegative() || realTimeLimit.isZero()) {
            throw new IllegalArgumentException("a burst's real-time limit must be positive, not " + realTimeLimit);
        }
        releasePathNice = nice;
        burstRealTimePriority = realTimePriority;
        burstRealTimeLimitNanos = realTimeLimit.toNanos();
    }

    /** Gives the calling thread the release path's nice value. */
    public static void enterReleasePath() {
        int nice = releasePathNice;
        if (nice == 0) {
            return;
        }
        if (!setScheduler(Libc.SCHED_OTHER, 0) || Libc.setpriority(Libc.PRIO_PROCESS, Libc.gettid(), nice) < 0) {
            refused(NICE_REFUSAL_LOGGED, "nice " + nice);
        }
    }

    /**
     * Puts the calling thread under SCHED_FIFO, if configured, until the returned burst ends: when it is closed, when
     * {@link RealTimeBurst#end()} is called, or at the first {@link RealTimeBurst#endIfOverdue()} past the
     * configured limit. Use it in try-with-resources on the thread that injects.
     */
    public static RealTimeBurst realTimeBurst() {
        int priority = burstRealTimePriority;
        if (priority == 0) {
            return RealTimeBurst.ORDINARY;
        }
        if (!setScheduler(Libc.SCHED_FIFO, priority)) {
            refused(REAL_TIME_REFUSAL_LOGGED, "SCHED_FIFO " + priority + " for the burst");
            return RealTimeBurst.ORDINARY;
        }
        return new RealTimeBurst(true, burstRealTimeLimitNanos);
    }

    /**
     * A stretch of one thread's work under SCHED_FIFO, bounded in time; ending it gives the thread the ordinary
     * policy back (its nice value is kept across the change). Not for sharing between threads.
     */
    public static final class RealTimeBurst implements AutoCloseable {

        /** A burst that never ran under SCHED_FIFO: real time is off, or was refused. */
        public static final RealTimeBurst ORDINARY = new RealTimeBurst(false, 0);

        private final long startNanos = System.nanoTime();
        private final long limitNanos;
        private boolean realTime;
        private long realTimeNanos = -1;

        private RealTimeBurst(boolean realTime, long limitNanos) {
            this.realTime = realTime;
            this.limitNanos = limitNanos;
        }

        /** How long the thread ran under SCHED_FIFO for this burst once it ended; -1 if it never did, or runs on. */
        public long realTimeNanos() {
            return realTimeNanos;
        }

        /** Whether the thread still runs under SCHED_FIFO for this burst. */
        public boolean realTime() {
            return realTime;
        }

        /** Ends the burst once its time is up; cheap enough to call per frame. */
        public void endIfOverdue() {
            if (realTime && System.nanoTime() - startNanos > limitNanos) {
                end();
            }
        }

        /** Gives the thread the ordinary policy back, now. */
        public void end() {
            if (realTime) {
                realTime = false;
                setScheduler(Libc.SCHED_OTHER, 0);
                realTimeNanos = System.nanoTime() - startNanos;
            }
        }

        @Override
        public void close() {
            end();
        }
    }

    /** The calling thread's scheduling now. */
    public static Scheduling current() {
        int policy = Libc.schedGetscheduler(0);
        return new Scheduling(policy & ~Libc.SCHED_RESET_ON_FORK, (policy & Libc.SCHED_RESET_ON_FORK) != 0,
                Libc.getpriority(Libc.PRIO_PROCESS, Libc.gettid()));
    }

    /** Sets the calling thread's (pid 0) policy, one its children do not inherit. */
    private static boolean setScheduler(int policy, int priority) {
        MemorySegment param = SCHED_PARAM.get();
        param.set(JAVA_INT, 0, priority);
        return Libc.schedSetscheduler(0, policy | Libc.SCHED_RESET_ON_FORK, param) == 0;
    }

    private static void refused(AtomicBoolean logged, String what) {
        int errno = Libc.errno();
        if (logged.compareAndSet(false, true)) {
            log.warn("the release path cannot have {} ({}: CAP_SYS_NICE?); it runs as the agent's other threads do",
                    what, Libc.strerror(errno));
        }
    }
}
