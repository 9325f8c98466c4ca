package io.netpass.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

import org.junit.jupiter.api.Test;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

import io.netpass.agent.testing.SeededTrials;

/**
 * The datagrams between agents: what a sealer seals opens to the same records (a final count) or to a release under
 * the same key, and anything else, a byte altered, another key, a truncation, random bytes or the other kind, is
 * refused with a {@link MalformedPeerDatagramException}.
 */
class PeerDatagramTest {

    private static final byte[] KEY = PeerDatagram.newKey();
    private static final SourceRead FINAL_COUNT = new SourceRead(1_234, 56, true);

    @Test
    void opensToTheFinalCountAndTheHeldFrameItWasSealedWith() {
        byte[] frame = ethernetFrame(60);
        ForwardedFrame held = new ForwardedFrame(1_233, false, true, new byte[ForwardedFrame.VNET_HEADER_SIZE], frame);

        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT,
                new FrameStreamEncoder().encode(held, DefaultDataBufferFactory.sharedInstance));

        assertThat(PeerDatagram.header(ByteBuffer.wrap(datagram)))
                .isEqualTo(new PeerDatagram.Header(PeerDatagram.Kind.FINAL_COUNT, "m-1"));
        List<FrameStreamRecord> records = PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(datagram));
        assertThat(records).hasSize(2);
        assertThat(records.getFirst()).isEqualTo(FINAL_COUNT);
        ForwardedFrame opened = (ForwardedFrame) records.get(1);
        assertThat(opened.sequence()).isEqualTo(1_233);
        assertThat(opened.heldByVmm()).isTrue();
        assertThat(opened.frame()).isEqualTo(frame);
    }

    @Test
    void opensToTheFinalCountAloneWhenNoFrameIsHeld() {
        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT, null);

        assertThat(PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(datagram))).containsExactly(FINAL_COUNT);
    }

    @Test
    void isRefusedUnderAnotherKey() {
        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT, null);

        assertThatThrownBy(() -> PeerDatagram.opener(PeerDatagram.newKey()).openFinalCount(ByteBuffer.wrap(datagram)))
                .isInstanceOf(MalformedPeerDatagramException.class)
                .hasMessageContaining("not sealed with this migration's key");
    }

    @Test
    void isRefusedWithAnyBitAltered() {
        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT, null);
        for (int index = 0; index < datagram.length; index++) {
            for (int bit = 0; bit < 8; bit++) {
                byte[] altered = datagram.clone();
                altered[index] ^= (byte) (1 << bit);

                assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(altered))))
                        .as("bit %d of byte %d", bit, index)
                        .isInstanceOf(MalformedPeerDatagramException.class);
            }
        }
    }

    @Test
    void isRefusedTruncatedAnywhere() {
        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT, null);
        for (int length = 0; length < datagram.length; length++) {
            byte[] truncated = Arrays.copyOf(datagram, length);

            assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(truncated))))
                    .as("first %d bytes", length)
                    .isInstanceOf(MalformedPeerDatagramException.class);
        }
    }

    @Test
    void randomBytesAreRefusedAndNothingElseIsThrown() {
        byte[] valid = finalCountSealer().sealFinalCount(FINAL_COUNT, null);
        SeededTrials.run(2_000, random -> {
            byte[] bytes;
            if (random.nextBoolean()) {
                bytes = new byte[random.nextInt(200)];
                random.nextBytes(bytes);
            } else {
                // A valid header, so that the rest reaches the cipher.
                bytes = Arrays.copyOf(valid, valid.length + random.nextInt(-20, 40));
                for (int i = 12; i < bytes.length; i++) {
                    bytes[i] = (byte) random.nextInt(256);
                }
            }

            assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(bytes))))
                    .isInstanceOf(MalformedPeerDatagramException.class);
        });
    }

    @Test
    void aSealerSealsOneDatagram() {
        PeerDatagram.Sealer sealer = finalCountSealer();
        sealer.sealFinalCount(FINAL_COUNT, null);

        assertThatThrownBy(() -> sealer.sealFinalCount(FINAL_COUNT, null)).isInstanceOf(IllegalStateException.class);
        PeerDatagram.Sealer releaseSealer = releaseSealer();
        releaseSealer.sealRelease();

        assertThatThrownBy(releaseSealer::sealRelease).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void sealsNothingThatWouldExceedAUdpDatagram() {
        ForwardedFrame largest = new ForwardedFrame(1_233, false, true, new byte[ForwardedFrame.VNET_HEADER_SIZE],
                ethernetFrame(ForwardedFrame.MAX_FRAME_LENGTH));

        byte[] datagram = finalCountSealer().sealFinalCount(FINAL_COUNT,
                new FrameStreamEncoder().encode(largest, DefaultDataBufferFactory.sharedInstance));

        assertThat(datagram).isNull();
    }

    @Test
    void carriesOnlyAFinalCount() {
        assertThatThrownBy(() -> finalCountSealer().sealFinalCount(new SourceRead(1_234, 56), null))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aReleaseOpensAsARelease() {
        byte[] datagram = releaseSealer().sealRelease();

        assertThat(PeerDatagram.header(ByteBuffer.wrap(datagram)))
                .isEqualTo(new PeerDatagram.Header(PeerDatagram.Kind.RELEASE, "m-1"));
        PeerDatagram.opener(KEY).openRelease(ByteBuffer.wrap(datagram));
    }

    @Test
    void aFinalCountIsRefusedAsAReleaseAndAReleaseAsAFinalCount() {
        byte[] finalCount = finalCountSealer().sealFinalCount(FINAL_COUNT, null);
        byte[] release = releaseSealer().sealRelease();

        assertThatThrownBy(() -> PeerDatagram.opener(KEY).openRelease(ByteBuffer.wrap(finalCount)))
                .isInstanceOf(MalformedPeerDatagramException.class);
        assertThatThrownBy(() -> PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(release)))
                .isInstanceOf(MalformedPeerDatagramException.class);
    }

    @Test
    void theKindIsSealedSoADatagramRelabelledAsTheOtherKindIsRefused() {
        byte[] finalCount = finalCountSealer().sealFinalCount(FINAL_COUNT, null);
        byte[] release = releaseSealer().sealRelease();
        byte[] finalCountAsRelease = withMagic(finalCount, "NPRL");
        byte[] releaseAsFinalCount = withMagic(release, "NPFC");

        assertThat(PeerDatagram.header(ByteBuffer.wrap(finalCountAsRelease)).kind())
                .isEqualTo(PeerDatagram.Kind.RELEASE);
        assertThatThrownBy(() -> PeerDatagram.opener(KEY).openRelease(ByteBuffer.wrap(finalCountAsRelease)))
                .isInstanceOf(MalformedPeerDatagramException.class)
                .hasMessageContaining("not sealed with this migration's key");
        assertThatThrownBy(() -> PeerDatagram.opener(KEY).openFinalCount(ByteBuffer.wrap(releaseAsFinalCount)))
                .isInstanceOf(MalformedPeerDatagramException.class)
                .hasMessageContaining("not sealed with this migration's key");
    }

    @Test
    void aReleaseIsRefusedUnderAnotherKeyOrWithAnyByteAltered() {
        byte[] release = releaseSealer().sealRelease();

        assertThatThrownBy(() -> PeerDatagram.opener(PeerDatagram.newKey()).openRelease(ByteBuffer.wrap(release)))
                .isInstanceOf(MalformedPeerDatagramException.class);
        for (int index = 0; index < release.length; index++) {
            byte[] altered = release.clone();
            altered[index] ^= 0x01;

            assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openRelease(ByteBuffer.wrap(altered))))
                    .as("byte %d", index)
                    .isInstanceOf(MalformedPeerDatagramException.class);
        }
    }

    @Test
    void aReleaseIsRefusedTruncatedAnywhereOrLengthened() {
        byte[] release = releaseSealer().sealRelease();
        for (int length = 0; length < release.length; length++) {
            byte[] truncated = Arrays.copyOf(release, length);

            assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openRelease(ByteBuffer.wrap(truncated))))
                    .as("first %d bytes", length)
                    .isInstanceOf(MalformedPeerDatagramException.class);
        }
        assertThat(catchThrowable(() -> PeerDatagram.opener(KEY).openRelease(
                ByteBuffer.wrap(Arrays.copyOf(release, release.length + 1)))))
                .isInstanceOf(MalformedPeerDatagramException.class);
    }

    @Test
    void aSealerSealsOnlyItsKind() {
        assertThatThrownBy(() -> releaseSealer().sealFinalCount(FINAL_COUNT, null))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> finalCountSealer().sealRelease()).isInstanceOf(IllegalStateException.class);
    }

    private static PeerDatagram.Sealer finalCountSealer() {
        return PeerDatagram.sealer(PeerDatagram.Kind.FINAL_COUNT, "m-1", KEY);
    }

    private static PeerDatagram.Sealer releaseSealer() {
        return PeerDatagram.sealer(PeerDatagram.Kind.RELEASE, "m-1", KEY);
    }

    private static byte[] withMagic(byte[] datagram, String magic) {
        byte[] relabelled = datagram.clone();
        System.arraycopy(magic.getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, relabelled, 0, 4);
        return relabelled;
    }

    private static byte[] ethernetFrame(int length) {
        byte[] frame = new byte[length];
        for (int i = 0; i < length; i++) {
            frame[i] = (byte) (i * 31 + 7);
        }
        return Objects.requireNonNull(frame);
    }
}
