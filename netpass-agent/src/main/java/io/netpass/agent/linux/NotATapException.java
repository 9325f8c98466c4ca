package io.netpass.agent.linux;

/** The interface exists but is not a tap (a tun device in tap mode), so it has no VM reading its ring. */
public class NotATapException extends RuntimeException {

    private final String name;

    public NotATapException(Link link, NetworkNamespace namespace) {
        super(link.name() + " in " + namespace + " is not a tap (kind '" + link.kind() + "')");
        this.name = link.name();
    }

    public String name() {
        return name;
    }
}
