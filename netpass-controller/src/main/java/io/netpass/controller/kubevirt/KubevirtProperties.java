package io.netpass.controller.kubevirt;

import java.time.Duration;
import java.util.List;

import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * KubeVirt watching ({@code netpass.controller.kubevirt.*}).
 *
 * @param enabled whether the controller drives migrations from KubeVirt's objects. Default false.
 * @param namespaces the namespaces whose VMs are watched; default empty: all (which needs a ClusterRole)
 * @param optInKey a VMI with this label or annotation set to {@code "true"} is made lossless. Default
 *     {@code netpass.io/enabled}.
 * @param allVms every VMI is made lossless unless its {@code optInKey} is {@code "false"}. Default false.
 * @param resync how often every watched object is reconciled again even if nothing changed (an agent that
 *     appeared, a call that failed). Default 30s.
 * @param reportAnnotation the annotation on the VirtualMachineInstanceMigration where the outcome is written; empty
 *     to write none. Default {@code netpass.io/report}.
 */
@ConfigurationProperties("netpass.controller.kubevirt")
@Validated
public record KubevirtProperties(
        @DefaultValue("false") boolean enabled,
        @NotNull @DefaultValue List<String> namespaces,
        @NotBlank @DefaultValue("netpass.io/enabled") String optInKey,
        @DefaultValue("false") boolean allVms,
        @NotNull @DefaultValue("30s") Duration resync,
        @NotNull @DefaultValue("netpass.io/report") String reportAnnotation) {
}
