package io.netpass.agent.capture;

/** Why a frame handed to an armed tap is not kept for forwarding although the VM never read it. */
public enum DropReason {
    /** The tap's byte cap was reached; the frame's place in the tap's order is still counted. */
    BUFFER_FULL("buffer-full"),
    /** The buffer could not even count the frame; the session can no longer tell read frames from unread ones. */
    UNCOUNTED("uncounted"),
    /** The kernel's capture ring was full, so the agent never saw the frame. */
    CAPTURE_RING_FULL("capture-ring-full"),
    /** The tap dropped the frame while the VM was still running and the VM went on reading later frames. */
    TAP_OVERFLOW_WHILE_RUNNING("tap-overflow-while-running");

    private final String tag;

    DropReason(String tag) {
        this.tag = tag;
    }

    /** The value of the {@code reason} tag in metrics and of the key in status documents. */
    public String tag() {
        return tag;
    }
}
