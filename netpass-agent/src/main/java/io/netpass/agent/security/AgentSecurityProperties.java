package io.netpass.agent.security;

import java.nio.file.Path;
import java.time.Duration;

import jakarta.validation.constraints.NotNull;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Authentication and input limits of the agent ({@code netpass.agent.security.*}).
 *
 * @param controllerTokenFile file holding the tokens the controller presents (one per line: during a rotation both
 *     old and new may be listed); required. Only these may arm, disarm and send events.
 * @param peerTokenFile file holding the tokens agents present to each other; the first line is also what this agent
 *     presents when it pulls frames. Required.
 * @param tokenRefresh how often the token files are read again, so a rotated Secret takes effect without a restart.
 *     Default 5s.
 * @param allowedInterfaces regular expression an interface name must match to be armed. Default: tap, vnet (libvirt)
 *     and macvtap names.
 * @param allowedNamespaces regular expression a namespace path must match. Default: {@code /run/netns/NAME} and
 *     {@code /proc/PID/ns/net}.
 * @param procNamespacesOfQemuOnly whether a {@code /proc/PID/ns/net} path must belong to a QEMU process. Default true.
 * @param controllerCertificateName with mutual TLS ({@code server.ssl.client-auth=need}): regular expression the
 *     common name of a verified client certificate must match for the caller to count as the controller without a
 *     bearer token. Sound only if the bundle's trust store holds a CA that issues netpass certificates and nothing
 *     else. Default none: a certificate grants no role, every caller needs its token.
 * @param peerCertificateName likewise for peer agents (e.g. {@code netpass-agent-.*}). Default none.
 */
@ConfigurationProperties("netpass.agent.security")
@Validated
public record AgentSecurityProperties(
        @Nullable Path controllerTokenFile,
        @Nullable Path peerTokenFile,
        @NotNull @DefaultValue("5s") Duration tokenRefresh,
        @NotNull @DefaultValue("^(tap|vnet|macvtap)[A-Za-z0-9_.-]{0,12}$") String allowedInterfaces,
        @NotNull @DefaultValue("^(/run/netns/[A-Za-z0-9_.-]{1,64}|/proc/[0-9]{1,10}/ns/net)$") String allowedNamespaces,
        @DefaultValue("true") boolean procNamespacesOfQemuOnly,
        @Nullable String controllerCertificateName,
        @Nullable String peerCertificateName) {
}
