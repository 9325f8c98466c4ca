package io.netpass.agent.security;

import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.jspecify.annotations.Nullable;

/** Which interfaces and namespaces this agent may be pointed at. */
public final class TapPolicy {

    private static final Pattern PROC_NAMESPACE = Pattern.compile("^/proc/([0-9]+)/ns/net$");

    private final Pattern interfaces;
    private final Pattern namespaces;
    private final boolean qemuOnly;
    private final IntPredicate isQemu;

    /**
     * @param isQemu whether a pid is a QEMU process (by its executable: a process can give itself any name)
     */
    public TapPolicy(AgentSecurityProperties properties, IntPredicate isQemu) {
        this.interfaces = Pattern.compile(properties.allowedInterfaces());
        this.namespaces = Pattern.compile(properties.allowedNamespaces());
        this.qemuOnly = properties.procNamespacesOfQemuOnly();
        this.isQemu = isQemu;
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
        if (qemuOnly && proc.matches() && !isQemu.test(Integer.parseInt(proc.group(1)))) {
            throw new TapNotAllowedException("process " + proc.group(1) + " is not a QEMU process");
        }
    }
}
