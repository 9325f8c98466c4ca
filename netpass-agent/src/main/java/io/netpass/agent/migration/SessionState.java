package io.netpass.agent.migration;

/** Where a session is in its life. */
public enum SessionState {
    /** Source: capturing, releasing what the VM reads. Destination: watching for the VM to run. */
    ARMED,
    /** Source: the destination runs and is pulling the kept frames. Destination: pulling and injecting. */
    FORWARDING,
    /** Every kept frame reached the destination (or the forwarding deadline passed); nothing is pending. */
    COMPLETED,
    /** The migration failed or was cancelled: nothing was or will be forwarded. */
    ABORTED,
    /** Forwarding stopped on an error; the reason is in the session's status. */
    FAILED;

    public boolean finished() {
        return this == COMPLETED || this == ABORTED || this == FAILED;
    }
}
