package io.netpass.agent.capture;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import io.netpass.agent.linux.InterfaceNotFoundException;
import io.netpass.agent.linux.Link;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.NotATapException;

/**
 * The taps this agent has armed, at most one capture session each. A tap is identified by its namespace's inode and
 * its interface index, so two paths to one namespace ({@code /run/netns/a}, {@code /proc/PID/ns/net}) are one tap.
 */
public final class ArmedTaps {

    private record TapIdentity(long namespaceInode, int ifindex) {
    }

    private final CaptureProperties properties;
    private final ConcurrentMap<TapIdentity, CaptureSession> sessions = new ConcurrentHashMap<>();

    public ArmedTaps(CaptureProperties properties) {
        this.properties = properties;
    }

    /**
     * Starts capturing {@code location} and returns once counting has started.
     *
     * @throws io.netpass.agent.linux.NotANetworkNamespaceException if the namespace path is not one
     * @throws InterfaceNotFoundException if there is no such interface
     * @throws NotATapException if the interface is not a tap
     * @throws TapAlreadyArmedException if a session already captures this tap
     */
    public CaptureSession arm(TapLocation location) {
        NetworkNamespace namespace = location.namespacePath().map(NetworkNamespace::at).orElse(NetworkNamespace.agent());
        NetworkLinks links = NetworkLinks.open(namespace);
        CaptureSession[] created = new CaptureSession[1];
        try {
            Link link = links.byName(location.tap());
            if (!link.tap()) {
                throw new NotATapException(link, namespace);
            }
            TapIdentity identity = new TapIdentity(namespaceInode(namespace), link.index());
            sessions.compute(identity, (key, existing) -> {
                if (existing != null && !existing.closed()) {
                    throw new TapAlreadyArmedException(location);
                }
                created[0] = CaptureSession.start(location, namespace, links, link, properties,
                        () -> sessions.remove(key, created[0]));
                return created[0];
            });
            created[0].awaitArmed();
            return created[0];
        } catch (RuntimeException e) {
            if (created[0] == null) {
                links.close();
            } else {
                created[0].close();
            }
            throw e;
        }
    }

    /** The sessions not yet closed. */
    public Collection<CaptureSession> sessions() {
        return List.copyOf(sessions.values());
    }

    private static long namespaceInode(NetworkNamespace namespace) {
        try {
            Object inode = Files.getAttribute(namespace.path() != null ? namespace.path()
                    : java.nio.file.Path.of("/proc/self/ns/net"), "unix:ino");
            return (Long) inode;
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalStateException("cannot identify network namespace " + namespace, e);
        }
    }
}
