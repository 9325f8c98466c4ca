package io.netpass.agent.capture;

import java.time.Duration;

import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * How the agent captures a tap ({@code netpass.agent.capture.*}).
 *
 * @param bufferCapacity off-heap bytes kept per armed tap, frames and 24-byte entry headers together; when full,
 *     new frames are refused (counted as {@code buffer-full}) and the oldest are kept, so what is forwarded stays
 *     in order. Default 64MB: 200 ms of a 2.5 Gbit/s stream.
 * @param ringBlockSize size of one block of the kernel's TPACKET_V3 capture ring; must hold the largest GSO frame
 *     (64 KiB) and be a multiple of the page size. Default 128KB.
 * @param ringBlocks blocks in the capture ring. Default 128 (16 MiB of kernel memory per armed tap). The kernel
 *     hands over a block when it is full or at the block timeout, whichever comes first, so below the rate that
 *     fills a block within the timeout the ring holds {@code ringBlocks × ringBlockTimeout} of traffic (128 ms),
 *     whatever the block size: many small blocks ride out a stalled capture thread (scheduling, GC) that a few large
 *     ones cannot.
 * @param ringBlockTimeout how long the kernel waits before handing over a block that is not full: the longest a
 *     frame sits in the ring before the agent sees it. Default 1ms.
 * @param counterInterval how often the tap's counters are read while no frames arrive; frames the VM has read are
 *     freed at this pace. Default 5ms.
 * @param armSettleWindow how long arming watches the tap's counters to find the moment its ring is empty, from
 *     which counting starts. Default 50ms.
 * @param armSettleTimeout how long arming may extend that window when the VM is behind on its tap and its ring was
 *     not seen empty across it; after it, counting starts anyway and the session reports itself inexact. Arming answers
 *     within this time, so keep it well below the controller's agent response timeout (2s). Default 500ms.
 */
@ConfigurationProperties("netpass.agent.capture")
@Validated
public record CaptureProperties(
        @NotNull @DefaultValue("64MB") DataSize bufferCapacity,
        @NotNull @DefaultValue("128KB") DataSize ringBlockSize,
        @Min(2) @DefaultValue("128") int ringBlocks,
        @NotNull @DefaultValue("1ms") Duration ringBlockTimeout,
        @NotNull @DefaultValue("5ms") Duration counterInterval,
        @NotNull @DefaultValue("50ms") Duration armSettleWindow,
        @NotNull @DefaultValue("500ms") Duration armSettleTimeout) {

    /** The documented defaults. */
    public static CaptureProperties defaults() {
        return new CaptureProperties(DataSize.ofMegabytes(64), DataSize.ofKilobytes(128), 128, Duration.ofMillis(1),
                Duration.ofMillis(5), Duration.ofMillis(50), Duration.ofMillis(500));
    }

    /** The defaults with another buffer capacity. */
    public CaptureProperties withBufferCapacity(DataSize capacity) {
        return new CaptureProperties(capacity, ringBlockSize, ringBlocks, ringBlockTimeout, counterInterval,
                armSettleWindow, armSettleTimeout);
    }
}
