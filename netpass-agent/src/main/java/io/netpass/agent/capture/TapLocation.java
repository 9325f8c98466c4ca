package io.netpass.agent.capture;

import java.nio.file.Path;
import java.util.Optional;

import org.jspecify.annotations.Nullable;

/**
 * Where a tap lives: its name and the network namespace it is in.
 *
 * @param namespace a network namespace path ({@code /run/netns/NAME}, {@code /proc/PID/ns/net}), or {@code null}
 *     for the agent's own namespace
 * @param tap the interface name
 */
public record TapLocation(@Nullable Path namespace, String tap) {

    public static TapLocation inAgentNamespace(String tap) {
        return new TapLocation(null, tap);
    }

    public Optional<Path> namespacePath() {
        return Optional.ofNullable(namespace);
    }

    @Override
    public String toString() {
        return namespace == null ? tap : tap + "@" + namespace;
    }
}
