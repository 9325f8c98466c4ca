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
 * @param nics the VM's NICs. Without {@code discover}: at least one, each with both taps. With it: empty for every
 *        NIC the agents find, or NICs with a MAC only ({@link Nic#toDiscover}) to keep just those
 * @param discover how both agents find the VM's taps before arming; absent when {@code nics} names them
 */
public record NewMigration(@Nullable String id, @Nullable String idempotencyKey, String vm, URI sourceAgent,
        URI destinationAgent, List<Nic> nics, @Nullable VmLocator discover) {

    public NewMigration {
        nics = List.copyOf(nics);
        if (discover == null) {
            if (nics.isEmpty() || !nics.stream().allMatch(nic -> nic.mac() != null && nic.hasTaps())) {
                throw new IllegalArgumentException("without discover, a migration lists its NICs with MAC and taps");
            }
        } else if (!nics.stream().allMatch(nic -> nic.mac() != null && !nic.hasTaps()
                && nic.sourceTap() == null && nic.destinationTap() == null)) {
            throw new IllegalArgumentException("with discover, NICs name a MAC only");
        }
    }

    /** Whether {@code other} asks for the same thing (ids and keys aside). */
    boolean sameAs(Migration other) {
        return vm.equals(other.vm()) && sourceAgent.equals(other.sourceAgent())
                && destinationAgent.equals(other.destinationAgent())
                && java.util.Objects.equals(discover, other.discover())
                && (discover == null ? nics.equals(other.nics()) : nics.equals(other.requestedNics()));
    }
}
