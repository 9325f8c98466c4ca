package io.netpass.agent.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.jspecify.annotations.Nullable;

/** Which interfaces and namespaces this agent may be pointed at. */
public final class TapPolicy {

    private static final Pattern PROC_NAMESPACE = Pattern.compile("^/proc/([0-9]+)/ns/net$");

    private final Pattern interfaces;
    private final Pattern namespaces;
    private final boolean qemuOnly;

    public TapPolicy(AgentSecurityProperties properties) {
        this.interfaces = Pattern.compile(properties.allowedInterfaces());
        this.namespaces = Pattern.compile(properties.allowedNamespaces());
        this.qemuOnly = properties.procNamespacesOfQemuOnly();
    }

    /** @throws TapNotAllowedException if the interface or namespace is outside the allow-lists */
    public void check(String tap, @Nullable String namespace) {
        if (!interfaces.matcher(tap).matches()) {
            throw new TapNotAllowedException("interface '" + tap + "' does not match the allowed interfaces "
                    + interfaces.pattern());
        }
        if (namespace == null) {
            return;
        }
        if (!namespaces.matcher(namespace).matches() || namespace.contains("..")) {
            throw new TapNotAllowedException("namespace '" + namespace + "' does not match the allowed namespaces "
                    + namespaces.pattern());
        }
        Matcher proc = PROC_NAMESPACE.matcher(namespace);
        if (qemuOnly && proc.matches() && !isQemu(proc.group(1))) {
            throw new TapNotAllowedException("process " + proc.group(1) + " is not a QEMU process");
        }
    }

    private static boolean isQemu(String pid) {
        try {
            return Files.readString(Path.of("/proc", pid, "comm")).strip().startsWith("qemu");
        } catch (IOException e) {
            return false;
        }
    }
}
