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
 * The final-count datagram: what a sealer seals opens to the same records under the same key, and anything else, a
 * byte altered, another key, a truncation or random bytes, is refused with a {@link MalformedFinalCountDatagramException}.
 */
class FinalCountDatagramTest {

    private static final byte[] KEY = FinalCountDatagram.newKey();
    private static final SourceRead FINAL_COUNT = new SourceRead(1_234, 56, true);

    @Test
    void opensToTheFinalCountAndTheHeldFrameItWasSealedWith() {
        byte[] frame = ethernetFrame(60);
        ForwardedFrame held = new ForwardedFrame(1_233, false, true, new byte[ForwardedFrame.VNET_HEADER_SIZE], frame);

        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT,
                new FrameStreamEncoder().encode(held, DefaultDataBufferFactory.sharedInstance));

        assertThat(FinalCountDatagram.migrationId(ByteBuffer.wrap(datagram))).isEqualTo("m-1");
        List<FrameStreamRecord> records = FinalCountDatagram.open(ByteBuffer.wrap(datagram), KEY);
        assertThat(records).hasSize(2);
        assertThat(records.getFirst()).isEqualTo(FINAL_COUNT);
        ForwardedFrame opened = (ForwardedFrame) records.get(1);
        assertThat(opened.sequence()).isEqualTo(1_233);
        assertThat(opened.heldByVmm()).isTrue();
        assertThat(opened.frame()).isEqualTo(frame);
    }

    @Test
    void opensToTheFinalCountAloneWhenNoFrameIsHeld() {
        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT, null);

        assertThat(FinalCountDatagram.open(ByteBuffer.wrap(datagram), KEY)).containsExactly(FINAL_COUNT);
    }

    @Test
    void isRefusedUnderAnotherKey() {
        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT, null);

        assertThatThrownBy(() -> FinalCountDatagram.open(ByteBuffer.wrap(datagram), FinalCountDatagram.newKey()))
                .isInstanceOf(MalformedFinalCountDatagramException.class)
                .hasMessageContaining("not sealed with this migration's key");
    }

    @Test
    void isRefusedWithAnyBitAltered() {
        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT, null);
        for (int index = 0; index < datagram.length; index++) {
            for (int bit = 0; bit < 8; bit++) {
                byte[] altered = datagram.clone();
                altered[index] ^= (byte) (1 << bit);

                assertThat(catchThrowable(() -> FinalCountDatagram.open(ByteBuffer.wrap(altered), KEY)))
                        .as("bit %d of byte %d", bit, index)
                        .isInstanceOf(MalformedFinalCountDatagramException.class);
            }
        }
    }

    @Test
    void isRefusedTruncatedAnywhere() {
        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT, null);
        for (int length = 0; length < datagram.length; length++) {
            byte[] truncated = Arrays.copyOf(datagram, length);

            assertThat(catchThrowable(() -> FinalCountDatagram.open(ByteBuffer.wrap(truncated), KEY)))
                    .as("first %d bytes", length)
                    .isInstanceOf(MalformedFinalCountDatagramException.class);
        }
    }

    @Test
    void randomBytesAreRefusedAndNothingElseIsThrown() {
        byte[] valid = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT, null);
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

            assertThat(catchThrowable(() -> FinalCountDatagram.open(ByteBuffer.wrap(bytes), KEY)))
                    .isInstanceOf(MalformedFinalCountDatagramException.class);
        });
    }

    @Test
    void aSealerSealsOneDatagram() {
        FinalCountDatagram.Sealer sealer = FinalCountDatagram.sealer("m-1", KEY);
        sealer.seal(FINAL_COUNT, null);

        assertThatThrownBy(() -> sealer.seal(FINAL_COUNT, null)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void sealsNothingThatWouldExceedAUdpDatagram() {
        ForwardedFrame largest = new ForwardedFrame(1_233, false, true, new byte[ForwardedFrame.VNET_HEADER_SIZE],
                ethernetFrame(ForwardedFrame.MAX_FRAME_LENGTH));

        byte[] datagram = FinalCountDatagram.sealer("m-1", KEY).seal(FINAL_COUNT,
                new FrameStreamEncoder().encode(largest, DefaultDataBufferFactory.sharedInstance));

        assertThat(datagram).isNull();
    }

    @Test
    void carriesOnlyAFinalCount() {
        assertThatThrownBy(() -> FinalCountDatagram.sealer("m-1", KEY).seal(new SourceRead(1_234, 56), null))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static byte[] ethernetFrame(int length) {
        byte[] frame = new byte[length];
        for (int i = 0; i < length; i++) {
            frame[i] = (byte) (i * 31 + 7);
        }
        return Objects.requireNonNull(frame);
    }
}
