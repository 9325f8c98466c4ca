package io.netpass.agent.discovery;

/** More than one QEMU process on this host matches the VM. */
public class SeveralVmsFoundException extends RuntimeException {

    public SeveralVmsFoundException(String message) {
        super(message);
    }
}
