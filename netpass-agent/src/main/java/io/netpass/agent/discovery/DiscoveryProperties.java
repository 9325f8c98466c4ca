package io.netpass.agent.discovery;

import java.nio.file.Path;

import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Where discovery reads the host's state ({@code netpass.agent.discovery.*}); in a container, the host's
 * directories as mounted (with {@code hostPID}, /proc is the host's).
 *
 * @param proc the host's /proc. Default {@code /proc}.
 * @param libvirtRunDirectory where libvirtd keeps {@code DOMAIN.pid} of the QEMU processes it runs. Default
 *        {@code /run/libvirt/qemu}.
 * @param netnsDirectory named network namespaces ({@code ip netns}); a QEMU's namespace is reported by its path here
 *        when it has one. Default {@code /run/netns}.
 */
@ConfigurationProperties("netpass.agent.discovery")
@Validated
public record DiscoveryProperties(
        @NotNull @DefaultValue("/proc") Path proc,
        @NotNull @DefaultValue("/run/libvirt/qemu") Path libvirtRunDirectory,
        @NotNull @DefaultValue("/run/netns") Path netnsDirectory) {
}
