package io.netpass.agent.testing;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** What two VMs between them read of the numbered frames a client sent across a switchover. */
public final class SequencedDelivery {

    private SequencedDelivery() {
    }

    /**
     * Asserts that each of the frames {@code 0 .. sent-1} was read exactly once, by exactly one of the two VMs:
     * no duplicate at either, none read by both, none lost. {@code context} is added to the failure message.
     */
    public static void assertEachFrameReadOnceByOneVm(long sent, List<Long> readBySource,
            List<Long> readByDestination, Object context) {
        assertThat(new HashSet<>(readBySource)).as("duplicates at the source VM").hasSize(readBySource.size());
        assertThat(new HashSet<>(readByDestination)).as("duplicates at the destination VM")
                .hasSize(readByDestination.size());
        Set<Long> both = new HashSet<>(readBySource);
        both.retainAll(new HashSet<>(readByDestination));
        assertThat(both).as("frames both VMs read").isEmpty();
        Set<Long> union = new HashSet<>(readBySource);
        union.addAll(readByDestination);
        List<Long> missing = new ArrayList<>();
        for (long sequence = 0; sequence < sent; sequence++) {
            if (!union.contains(sequence)) {
                missing.add(sequence);
            }
        }
        assertThat(missing).as("frames no VM read (source read %d, destination %d; %s)", readBySource.size(),
                readByDestination.size(), context).isEmpty();
    }
}
