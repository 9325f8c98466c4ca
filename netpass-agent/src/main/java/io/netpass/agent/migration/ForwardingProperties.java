package io.netpass.agent.migration;

import java.time.Duration;

import jakarta.validation.constraints.AssertTrue;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * How kept frames travel from source to destination ({@code netpass.agent.forwarding.*}).
 *
 * @param quietPeriod after release, the source keeps forwarding frames that still reach it (the network has not
 *     re-learned the VM's place yet) and ends the stream once none has arrived for this long. Default 300ms: QEMU's
 *     second self-announce leaves ≈ 50 ms after resume, the guest's own ARP 20–95 ms.
 * @param deadline the source ends the stream this long after release whatever still arrives. Default 3s.
 * @param batchFrames frames per chunk of the stream. Default 256.
 * @param reconnectWindow how long the destination keeps retrying a broken stream, resuming after the last frame it
 *     injected. Default 10s.
 * @param readsAccountedTimeout at release, how long the source waits for the tap's last reads to be matched, so that
 *     no frame the VM read is forwarded, and the destination whose VM runs for the source's final count of them before it
 *     injects the frames it holds (docs/frame-stream.md).
 *     Default 200ms.
 * @param injectionHeadroom frames by which the destination tap's ring is grown when the destination is armed, before
 *     its VM runs, so that the injected burst fits. Bursts larger than the room are
 *     paced (injectionStallTimeout) rather than grown into, which would cost the running VM an outage. Default 4096.
 * @param injectionStallTimeout how long the destination waits for its VM to make room in its tap's ring before it
 *     injects the next batch anyway (a tap drops what does not fit). Default 10s.
 * @param streamIdleTimeout the destination gives up on a frame stream that delivers nothing for this long and
 *     resumes it after the last injected frame; the source sends its END at most a quiet period after the last
 *     frame, so this must exceed the quiet period. Default 1s.
 * @param armedTimeout a session not released within this time is disarmed and reported. Default 30m.
 * @param forwardFrameHeldByVmm whether the source also forwards the last frame its VM read, when kept frames follow
 *     it directly. QEMU reads one frame after the VM stops, cannot deliver it and holds it in its own queue, which
 *     the migration does not carry (docs/reconciliation.md). Default true; turn off for a VMM that does not do this.
 * @param forwardAheadAfter before the release, the source forwards a kept frame once its VM has left it unread this
 *     long, so that the destination holds it before its VM runs and injects it without waiting for the source
 *     (docs/frame-stream.md). A running VM reads most frames sooner; frames it reads after all are withdrawn. Lower
 *     sends more frames the VM ends up reading; higher leaves more of a short pause to travel after the release.
 *     Default 2ms.
 * @param stagingCapacity bytes of forwarded frames the destination holds before its VM runs; when full, it stops
 *     reading the stream and the source keeps the rest (HTTP/2 flow control). Default 64MB, the source's default
 *     capture buffer.
 * @param releasePathNice the nice value of the destination's threads on the release path (they see its VM run,
 *     receive the source's final count, inject the kept frames; docs/performance.md): on a busy host they get the CPU
 *     before the agent's other threads, the VMs and the host's other work, for the milliseconds a release lasts. Needs
 *     CAP_SYS_NICE (the agent runs privileged); without it the threads keep the agent's own. 0 leaves them as they
 *     are. Default -10.
 * @param burstRealTimePriority the SCHED_FIFO priority under which the destination injects the frames it held
 *     once its VM runs: the burst then runs until it is done or waits for the VM to make room, not in turns with
 *     whatever else is runnable. It shortens the release's tail (docs/performance.md). Only those frames, and only
 *     for {@code burstRealTimeLimit}: a thread under SCHED_FIFO takes a CPU from every ordinary thread of the host,
 *     and a source's capture on the same host fell behind when a destination injected a resumed stream under it for
 *     seconds. Needs CAP_SYS_NICE as well; without it the burst runs at the release path's nice value. 1 is the
 *     lowest real-time priority; 0 turns it off. Default 1.
 * @param burstRealTimeLimit how long the burst may run under SCHED_FIFO; what is left of it then is injected at the
 *     release path's nice value. 2,000 frames take 2–4 ms here (docs/performance.md). Default 10ms.
 */
@ConfigurationProperties("netpass.agent.forwarding")
@Validated
public record ForwardingProperties(
        @NotNull @DefaultValue("300ms") Duration quietPeriod,
        @NotNull @DefaultValue("3s") Duration deadline,
        @Min(1) @DefaultValue("256") int batchFrames,
        @NotNull @DefaultValue("10s") Duration reconnectWindow,
        @NotNull @DefaultValue("200ms") Duration readsAccountedTimeout,
        @Min(0) @DefaultValue("4096") int injectionHeadroom,
        @NotNull @DefaultValue("10s") Duration injectionStallTimeout,
        @NotNull @DefaultValue("1s") Duration streamIdleTimeout,
        @NotNull @DefaultValue("30m") Duration armedTimeout,
        @DefaultValue("true") boolean forwardFrameHeldByVmm,
        @NotNull @DefaultValue("2ms") Duration forwardAheadAfter,
        @NotNull @DefaultValue("64MB") DataSize stagingCapacity,
        @Min(-20) @Max(19) @DefaultValue("-10") int releasePathNice,
        @Min(0) @Max(99) @DefaultValue("1") int burstRealTimePriority,
        @NotNull @DefaultValue("10ms") Duration burstRealTimeLimit) {

    @AssertTrue(message = "burstRealTimeLimit must be positive")
    boolean isBurstRealTimeLimitPositive() {
        return burstRealTimeLimit == null || burstRealTimeLimit.isPositive();
    }

    public static ForwardingProperties defaults() {
        return new ForwardingProperties(Duration.ofMillis(300), Duration.ofSeconds(3), 256, Duration.ofSeconds(10),
                Duration.ofMillis(200), 4096, Duration.ofSeconds(10), Duration.ofSeconds(1), Duration.ofMinutes(30),
                true, Duration.ofMillis(2), DataSize.ofMegabytes(64), -10, 1,
                Duration.ofMillis(10));
    }
}
