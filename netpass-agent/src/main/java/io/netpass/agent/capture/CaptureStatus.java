package io.netpass.agent.capture;

import java.util.Map;

/**
 * A capture session's counts at one moment.
 *
 * @param tap the armed tap
 * @param capturedFrames frames handed to the tap since it was armed
 * @param capturedBytes their bytes
 * @param readFrames of those, frames the VM has read (and the session has let go)
 * @param keptFrames frames kept now: not read by the VM, or not yet known to be read
 * @param keptBytes frame bytes kept now
 * @param bufferBytes bytes of the buffer in use, entry headers included
 * @param keptTapDrops kept frames that the tap itself dropped because its ring was full
 * @param drops frames not kept although unread, by reason
 * @param tapGone whether the tap has disappeared; the kept frames stay
 * @param exactSinceArm false if arming found no quiet moment, so frames already queued in the tap when counting
 *     started may be miscounted
 */
public record CaptureStatus(
        TapLocation tap,
        long capturedFrames,
        long capturedBytes,
        long readFrames,
        long keptFrames,
        long keptBytes,
        long bufferBytes,
        long keptTapDrops,
        Map<DropReason, Long> drops,
        boolean tapGone,
        boolean exactSinceArm) {

    public long drops(DropReason reason) {
        return drops.getOrDefault(reason, 0L);
    }
}
