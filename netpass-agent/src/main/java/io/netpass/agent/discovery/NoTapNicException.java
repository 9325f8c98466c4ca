package io.netpass.agent.discovery;

/** The QEMU process has no guest NIC on a tap this agent can name. */
public class NoTapNicException extends RuntimeException {

    public NoTapNicException(String message) {
        super(message);
    }
}
