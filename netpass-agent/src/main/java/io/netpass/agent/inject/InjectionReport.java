package io.netpass.agent.inject;

import java.util.List;

/**
 * What an injection did.
 *
 * @param injectedFrames frames the kernel accepted into the tap
 * @param injectedBytes their frame bytes
 * @param failedFrames frames the kernel refused
 * @param failures the first refusals, each with the frame's sequence number and the kernel's error
 */
public record InjectionReport(long injectedFrames, long injectedBytes, long failedFrames,
        List<InjectionFailure> failures) {

    /** One frame the kernel refused. */
    public record InjectionFailure(long sequence, String error) {
    }
}
