package io.netpass.agent.capture;

/** Receives kept frames one at a time; the {@link KeptFrame} view is valid only during the call. */
@FunctionalInterface
public interface KeptFrameReader {
    void read(KeptFrame frame);
}
