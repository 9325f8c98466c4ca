package io.netpass.agent.linux;

/** No interface of that name or index exists in the namespace. */
public class InterfaceNotFoundException extends RuntimeException {

    private final String name;

    public InterfaceNotFoundException(String name, NetworkNamespace namespace) {
        super("no interface " + name + " in " + namespace);
        this.name = name;
    }

    public String name() {
        return name;
    }
}
