package io.netpass.controller.migration;

import java.net.URI;
import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * What an orchestrator asks for: a migration to make lossless.
 *
 * @param id the client's id, or absent to derive one
 * @param idempotencyKey the client's Idempotency-Key, if any
 * @param vm the VM's identity
 * @param sourceAgent base URL of the source host's agent
 * @param destinationAgent base URL of the destination host's agent
 * @param nics the VM's NICs
 */
public record NewMigration(@Nullable String id, @Nullable String idempotencyKey, String vm, URI sourceAgent,
        URI destinationAgent, List<Nic> nics) {

    /** Whether {@code other} asks for the same thing (ids and keys aside). */
    boolean sameAs(Migration other) {
        return vm.equals(other.vm()) && sourceAgent.equals(other.sourceAgent())
                && destinationAgent.equals(other.destinationAgent()) && nics.equals(other.nics());
    }
}
