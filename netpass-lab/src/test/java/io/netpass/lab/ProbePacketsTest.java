package io.netpass.lab;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ProbePacketsTest {

    private static final ProbeTarget TARGET = new ProbeTarget(Path.of("/run/netns/none"), "eth0",
            "02:00:c6:12:00:01", ProbePackets.ipv4("198.18.0.1"), ProbePackets.ipv4("198.18.0.10"),
            "52:54:00:12:00:10");
    private static final long TOKEN = 0x6e65747061737321L;

    private final ProbePackets packets = new ProbePackets(TARGET, TOKEN, 0x1234);

    @Test
    void echoRequestCarriesValidChecksumsAndTheSequence() {
        ByteBuffer frame = echoRequest(70_000);

        assertThat(ProbePackets.checksum(frame, 14, 20)).as("IPv4 header checksum").isZero();
        assertThat(ProbePackets.checksum(frame, 34, ProbePackets.ECHO_FRAME_LENGTH - 34)).as("ICMP checksum")
                .isZero();
        assertThat(frame.get(34)).as("ICMP type").isEqualTo((byte) 8);
        assertThat(frame.getLong(42)).isEqualTo(TOKEN);
        assertThat(frame.getLong(50)).isEqualTo(70_000);
    }

    @Test
    void echoReplyNamesTheProbeItAnswers() {
        ByteBuffer reply = turnIntoReply(echoRequest(41));
        reply.put(34, (byte) 0);

        assertThat(packets.answeredSequence(MemorySegment.ofBuffer(reply), MigrationProbe.Kind.ICMP_ECHO))
                .isEqualTo(41);
        assertThat(packets.answeredSequence(MemorySegment.ofBuffer(reply), MigrationProbe.Kind.UDP_PORT_UNREACHABLE))
                .isEqualTo(ProbePackets.NO_PROBE);
    }

    @Test
    void echoReplyOfAnotherRunIsIgnored() {
        ByteBuffer reply = turnIntoReply(echoRequest(41));
        reply.put(34, (byte) 0);
        ProbePackets otherRun = new ProbePackets(TARGET, TOKEN + 1, 0x1234);

        assertThat(otherRun.answeredSequence(MemorySegment.ofBuffer(reply), MigrationProbe.Kind.ICMP_ECHO))
                .isEqualTo(ProbePackets.NO_PROBE);
    }

    @Test
    void portUnreachableNamesTheQuotedProbe() {
        ByteBuffer payload = ByteBuffer.allocate(ProbePackets.PAYLOAD_LENGTH);
        packets.udpPayload(9_999, payload);
        ByteBuffer frame = ByteBuffer.allocate(14 + 20 + 8 + 20 + 8 + ProbePackets.PAYLOAD_LENGTH);
        frame.put(ProbePackets.mac(TARGET.clientMac())).put(ProbePackets.mac(TARGET.guestMac())).putShort((short) 0x0800);
        frame.put((byte) 0x45).put((byte) 0xc0).putShort((short) (frame.capacity() - 14)).putInt(0)
                .put((byte) 64).put((byte) 1).putShort((short) 0)
                .put(TARGET.guestAddress().getAddress()).put(TARGET.clientAddress().getAddress());
        frame.put((byte) 3).put((byte) 3).putShort((short) 0).putInt(0);
        frame.put((byte) 0x45).put((byte) 0).putShort((short) (28 + ProbePackets.PAYLOAD_LENGTH)).putInt(0)
                .put((byte) 64).put((byte) 17).putShort((short) 0)
                .put(TARGET.clientAddress().getAddress()).put(TARGET.guestAddress().getAddress());
        frame.putShort((short) 40000).putShort((short) ProbePackets.CLOSED_PORT)
                .putShort((short) (8 + ProbePackets.PAYLOAD_LENGTH)).putShort((short) 0);
        frame.put(payload).flip();

        assertThat(packets.answeredSequence(MemorySegment.ofBuffer(frame), MigrationProbe.Kind.UDP_PORT_UNREACHABLE))
                .isEqualTo(9_999);
    }

    private ByteBuffer echoRequest(long sequence) {
        ByteBuffer frame = ByteBuffer.allocate(ProbePackets.ECHO_FRAME_LENGTH);
        packets.echoRequest(sequence, frame, 0);
        return frame;
    }

    /** The guest's answer: addresses swapped; the caller sets the ICMP type. */
    private static ByteBuffer turnIntoReply(ByteBuffer request) {
        ByteBuffer reply = ByteBuffer.allocate(request.capacity());
        reply.put(request.duplicate().clear()).clear();
        byte[] guestMac = new byte[6];
        byte[] clientMac = new byte[6];
        request.get(0, guestMac).get(6, clientMac);
        reply.put(0, clientMac).put(6, guestMac);
        byte[] client = new byte[4];
        byte[] guest = new byte[4];
        request.get(26, client).get(30, guest);
        reply.put(26, guest).put(30, client);
        return reply;
    }
}
