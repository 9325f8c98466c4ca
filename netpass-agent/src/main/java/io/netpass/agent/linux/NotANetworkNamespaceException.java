package io.netpass.agent.linux;

import java.nio.file.Path;

/** A namespace path that cannot be opened, or that names something other than a network namespace. */
public class NotANetworkNamespaceException extends RuntimeException {

    private final Path path;

    public NotANetworkNamespaceException(Path path, NativeCallException cause) {
        super(path + " is not an accessible network namespace: " + cause.getMessage(), cause);
        this.path = path;
    }

    public Path path() {
        return path;
    }
}
