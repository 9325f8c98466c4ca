package io.netpass.agent.testing;

import java.util.Arrays;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SequencedTrafficTest {

    private static final EthernetAddress CLIENT = EthernetAddress.of("02:6e:70:00:00:01");
    private static final EthernetAddress VM = EthernetAddress.of("52:54:00:12:34:56");

    @Test
    void frameCarriesItsSequenceNumberBackToTheParser() {
        SequencedTraffic traffic = new SequencedTraffic(CLIENT, VM, 300);
        byte[] frame = traffic.frame(0x0102_0304_0506L);

        assertThat(frame).hasSize(300);
        assertThat(SequencedTraffic.sequenceOf(frame, 0)).isEqualTo(0x0102_0304_0506L);
        byte[] behindAVnetHeader = new byte[12 + frame.length];
        System.arraycopy(frame, 0, behindAVnetHeader, 12, frame.length);
        assertThat(SequencedTraffic.sequenceOf(behindAVnetHeader, 12)).isEqualTo(0x0102_0304_0506L);
    }

    @Test
    void frameIsUdpOverIpv4FromClientToVmWithAValidHeaderChecksum() {
        byte[] frame = new SequencedTraffic(CLIENT, VM, 128).frame(42);

        assertThat(EthernetAddress.read(frame, 0)).isEqualTo(VM);
        assertThat(EthernetAddress.read(frame, 6)).isEqualTo(CLIENT);
        assertThat(Headers.getShort(frame, 12)).isEqualTo(0x0800);
        assertThat(Headers.onesComplementSum(frame, 14, 20, 0)).as("IPv4 header sum").isEqualTo(0xffff);
        assertThat(Headers.getShort(frame, 16)).as("IPv4 total length").isEqualTo(128 - 14);
        assertThat(Headers.getShort(frame, 38)).as("UDP length").isEqualTo(128 - 34);
        assertThat(frame[23]).isEqualTo((byte) 17);
    }

    @Test
    void framesDifferBeyondTheirSequenceNumber() {
        SequencedTraffic traffic = new SequencedTraffic(CLIENT, VM);
        byte[] first = traffic.frame(1);
        byte[] second = traffic.frame(2);

        assertThat(Arrays.copyOfRange(first, 60, first.length))
                .isNotEqualTo(Arrays.copyOfRange(second, 60, second.length));
    }

    @Test
    void parserRejectsFramesThatAreNotSequenced() {
        byte[] frame = new SequencedTraffic(CLIENT, VM).frame(7);
        byte[] otherPort = frame.clone();
        otherPort[37] ^= 1;

        assertThat(SequencedTraffic.sequenceOf(otherPort, 0)).isEqualTo(-1);
        assertThat(SequencedTraffic.sequenceOf(FakeVm.announcement(VM), 0)).isEqualTo(-1);
        assertThat(SequencedTraffic.sequenceOf(GsoTcpFrame.of(CLIENT, VM, 5_000, 7).frame(), 0)).isEqualTo(-1);
        assertThat(SequencedTraffic.sequenceOf(Arrays.copyOf(frame, 49), 0)).isEqualTo(-1);
        assertThat(SequencedTraffic.sequenceOf(frame, 1)).isEqualTo(-1);
    }

    @Test
    void frameSmallerThanItsHeadersIsRefused() {
        assertThatThrownBy(() -> new SequencedTraffic(CLIENT, VM, SequencedTraffic.MIN_FRAME_SIZE - 1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void gsoFrameAnnouncesTcpv4SegmentationOfItsWholeLength() {
        GsoTcpFrame gso = GsoTcpFrame.of(CLIENT, VM, 20_000, 1);
        byte[] frame = gso.frame();
        byte[] segment = gso.segment();

        assertThat(gso.header()).isEqualTo(new VirtioNetHeader(1, 1, 54, 1448, 34, 16));
        assertThat(segment).hasSize(10 + 54 + 20_000);
        assertThat(segment).startsWith(1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0);
        assertThat(Headers.getShort(frame, 16)).as("IPv4 total length").isEqualTo(20 + 20 + 20_000);
        assertThat(Headers.onesComplementSum(frame, 14, 20, 0)).as("IPv4 header sum").isEqualTo(0xffff);
        assertThat(frame[23]).isEqualTo((byte) 6);
        assertThat(frame[46] >> 4).as("TCP data offset").isEqualTo(5);
    }

    @Test
    void announcementIsQemusSelfAnnounceRarp() {
        byte[] rarp = FakeVm.announcement(VM);

        assertThat(rarp).hasSize(60);
        assertThat(EthernetAddress.read(rarp, 0)).isEqualTo(EthernetAddress.BROADCAST);
        assertThat(EthernetAddress.read(rarp, 6)).isEqualTo(VM);
        assertThat(Headers.getShort(rarp, 12)).isEqualTo(0x8035);
        assertThat(Headers.getShort(rarp, 20)).as("reverse request").isEqualTo(3);
        assertThat(EthernetAddress.read(rarp, 22)).isEqualTo(VM);
        assertThat(EthernetAddress.read(rarp, 32)).isEqualTo(VM);
        assertThat(Arrays.copyOfRange(rarp, 38, 60)).containsOnly(0);
    }

    @Test
    void ethernetAddressPrintsAsItIsParsed() {
        assertThat(EthernetAddress.of("52:54:00:12:34:56").toString()).isEqualTo("52:54:00:12:34:56");
        assertThat(EthernetAddress.of("52:54:00:12:34:56").bytes()).containsExactly(0x52, 0x54, 0, 0x12, 0x34, 0x56);
        assertThatThrownBy(() -> EthernetAddress.of("52:54:00:12:34")).isInstanceOf(IllegalArgumentException.class);
    }
}
