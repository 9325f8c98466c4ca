package io.netpass.agent.discovery;

/** The process is not QEMU (its executable is not qemu-system-* or qemu-kvm), or is gone. */
public class NotAQemuProcessException extends RuntimeException {

    public NotAQemuProcessException(String message) {
        super(message);
    }
}
