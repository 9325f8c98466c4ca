/**
 * KubeVirt integration: watches VirtualMachineInstanceMigrations and their VMIs and drives netpass migrations from
 * them — armed once the target pod is ready, released and completed as KubeVirt reports, and reported back on the
 * VirtualMachineInstanceMigration. Only the elected leader among controller replicas does this.
 */
@NullMarked
package io.netpass.controller.kubevirt;

import org.jspecify.annotations.NullMarked;
