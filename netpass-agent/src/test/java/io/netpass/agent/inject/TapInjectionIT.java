package io.netpass.agent.inject;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.capture.ArmedTaps;
import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.capture.CaptureSession;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.linux.NetworkLinks;
import io.netpass.agent.testing.Client;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.FakeVm;
import io.netpass.agent.testing.FrameSender;
import io.netpass.agent.testing.GsoTcpFrame;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;
import io.netpass.agent.testing.SequencedTraffic;
import io.netpass.agent.testing.VirtioNetHeader;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;

/** The destination side of the data plane: kept frames reach another VM exactly as the source VM would have read them. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TapInjectionIT {

    private static final EthernetAddress VM_MAC = EthernetAddress.of("52:54:00:6e:70:11");
    private static final int UDP_CHECKSUM_OFFSET = 6;

    private static NamespaceLab lab;
    private static Host source;
    private static Host destination;
    private static Client client;

    private record Copy(byte[] vnetHeader, byte[] frame) {
    }

    @BeforeAll
    static void startLab() {
        lab = new NamespaceLab();
        source = lab.host("src");
        destination = lab.host("dst");
        client = lab.client("cl", source);
    }

    @AfterAll
    static void stopLab() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void injectedFramesReachTheDestinationVmAsTheSourceVmWouldHaveReadThem() throws Exception {
        FakeVm sourceVm = source.startVm("tapi0", VM_MAC);
        FakeVm destinationVm = destination.startVm("tapi1", VM_MAC);
        SequencedTraffic traffic = client.trafficTo(VM_MAC);
        List<Copy> kept = new ArrayList<>();
        try (FrameSender sender = client.sender();
                CaptureSession session = new ArmedTaps(CaptureProperties.defaults())
                        .arm(new TapLocation(source.namespace().path(), "tapi0"))) {
            sourceVm.pause();
            sender.send(traffic, 0, 50);
            GsoTcpFrame gso = GsoTcpFrame.of(client.mac(), VM_MAC, 20_000, 7);
            sender.send(gso.header(), gso.frame());
            byte[] checksumOffloaded = traffic.frame(50);
            VirtioNetHeader partialChecksum = new VirtioNetHeader(VirtioNetHeader.F_NEEDS_CSUM,
                    VirtioNetHeader.GSO_NONE, 0, 0, 34, UDP_CHECKSUM_OFFSET);
            sender.send(partialChecksum, checksumOffloaded);
            sender.send(traffic, 51, 50);
            int total = 102;
            awaitKept(session, total);
            session.forEachKept(frame -> kept.add(new Copy(frame.vnetHeader().toArray(JAVA_BYTE),
                    frame.frame().toArray(JAVA_BYTE))));

            // What the source VM reads once it resumes is the reference: the tap's own view of these frames.
            sourceVm.resume();
            List<FakeVm.ReadFrame> reference = sourceVm.awaitFrames(total, Duration.ofSeconds(5));
            assertThat(reference).hasSize(total);
            assertThat(kept).hasSize(total);
            for (int i = 0; i < total; i++) {
                assertThat(kept.get(i).frame()).as("kept frame %d", i).isEqualTo(reference.get(i).frame());
                assertThat(kept.get(i).vnetHeader()).as("kept vnet header %d", i)
                        .isEqualTo(Arrays.copyOf(reference.get(i).vnetHeader(), VirtioNetHeader.SIZE));
            }
            FakeVm.ReadFrame gsoRead = reference.get(50);
            assertThat(gsoRead.frame().length).as("GSO frame arrives whole, larger than the MTU").isEqualTo(gso.length())
                    .isGreaterThan(1500);
            assertThat(gsoRead.header().gsoType()).isEqualTo(VirtioNetHeader.GSO_TCPV4);
            assertThat(reference.get(51).header().flags() & VirtioNetHeader.F_NEEDS_CSUM).isNotZero();

            int queueBefore;
            try (NetworkLinks links = NetworkLinks.open(destination.network())) {
                queueBefore = links.byName("tapi1").txQueueLength();
            }
            destinationVm.pause();
            InjectionReport report;
            try (TapInjector injector = TapInjector.open(new TapLocation(destination.namespace().path(), "tapi1"),
                    Duration.ofSeconds(5))) {
                injector.growRingBeforeTheVmRuns(total);
                try (NetworkLinks links = NetworkLinks.open(destination.network())) {
                    assertThat(links.byName("tapi1").txQueueLength()).as("ring grown for the burst")
                            .isEqualTo(queueBefore + total);
                }
                for (int i = 0; i < total; i++) {
                    injector.inject(i, MemorySegment.ofArray(kept.get(i).vnetHeader()),
                            MemorySegment.ofArray(kept.get(i).frame()));
                }
                report = injector.report();
                destinationVm.resume();
            }
            assertThat(report.injectedFrames()).isEqualTo(total);
            assertThat(report.failedFrames()).isZero();
            List<FakeVm.ReadFrame> received = destinationVm.awaitFrames(total, Duration.ofSeconds(5));
            assertThat(received).hasSize(total);
            for (int i = 0; i < total; i++) {
                assertThat(received.get(i).frame()).as("injected frame %d", i).isEqualTo(reference.get(i).frame());
                assertThat(received.get(i).vnetHeader()).as("vnet header %d as the destination VM reads it", i)
                        .isEqualTo(reference.get(i).vnetHeader());
            }
            try (NetworkLinks links = NetworkLinks.open(destination.network())) {
                assertThat(links.byName("tapi1").txQueueLength())
                        .as("ring left grown: shrinking it would drop frames of the running VM")
                        .isEqualTo(queueBefore + total);
                assertThat(links.byName("tapi1").counters().droppedFrames()).isZero();
            }
        }
    }

    @Test
    void aBurstLargerThanTheRingIsPacedToTheRoomTheVmMakes() throws Exception {
        FakeVm destinationVm = destination.startVm("tapi2", VM_MAC);
        destination.ip("link", "set", "tapi2", "txqueuelen", "64");
        SequencedTraffic traffic = new SequencedTraffic(client.mac(), VM_MAC);
        int burst = 2_000;
        try (TapInjector injector = TapInjector.open(new TapLocation(destination.namespace().path(), "tapi2"),
                Duration.ofSeconds(5))) {
            byte[] zeroHeader = new byte[VirtioNetHeader.SIZE];
            for (int i = 0; i < burst; i++) {
                injector.inject(i, MemorySegment.ofArray(zeroHeader), MemorySegment.ofArray(traffic.frame(i)));
            }
            InjectionReport report = injector.report();
            assertThat(report.injectedFrames()).as("%s", report).isEqualTo(burst);
        }
        List<FakeVm.ReadFrame> received = destinationVm.awaitFrames(burst, Duration.ofSeconds(5));
        assertThat(received).hasSize(burst);
        for (int i = 0; i < burst; i++) {
            assertThat(SequencedTraffic.sequenceOf(received.get(i).frame(), 0)).isEqualTo(i);
        }
        try (NetworkLinks links = NetworkLinks.open(destination.network())) {
            // The tap counts each refusal of a full ring in tx_dropped; the refused frames were sent again, in
            // order, and all arrived above.
            assertThat(links.byName("tapi2").txQueueLength()).as("the running VM's ring is never resized")
                    .isEqualTo(64);
        }
    }

    @Test
    void theRingGrownBeforeTheVmRunsCanBeGivenBack() {
        destination.startVm("tapi3", VM_MAC);
        TapLocation tap = new TapLocation(destination.namespace().path(), "tapi3");
        try (NetworkLinks links = NetworkLinks.open(destination.network());
                TapInjector injector = TapInjector.open(tap, Duration.ofSeconds(5))) {
            int original = links.byName("tapi3").txQueueLength();
            injector.growRingBeforeTheVmRuns(4096);
            assertThat(links.byName("tapi3").txQueueLength()).isEqualTo(original + 4096);
            injector.restoreRingLengthBeforeTheVmRuns();
            assertThat(links.byName("tapi3").txQueueLength()).isEqualTo(original);
        }
    }

    private static void awaitKept(CaptureSession session, int frames) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (session.status().keptFrames() < frames && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertThat(session.status().keptFrames()).isEqualTo(frames);
    }
}
