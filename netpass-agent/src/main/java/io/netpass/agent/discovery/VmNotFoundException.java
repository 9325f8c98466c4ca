package io.netpass.agent.discovery;

/** No QEMU process on this host runs the VM. */
public class VmNotFoundException extends RuntimeException {

    public VmNotFoundException(String message) {
        super(message);
    }
}
