package io.netpass.agent.stream;

import static io.netpass.agent.stream.EncodedStream.RECORD_HEADER_SIZE;
import static io.netpass.agent.stream.EncodedStream.STREAM_HEADER_SIZE;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.core.io.buffer.DataBuffer;

import io.netpass.agent.testing.SeededTrials;

import reactor.core.publisher.Flux;

/**
 * Properties of the decoder over random streams, random chunk boundaries and random corruption: it decodes every
 * valid stream the same however it is split, it never fails other than with a {@link MalformedFrameStreamException},
 * and it releases every buffer it is given.
 */
class FrameStreamDecoderFuzzTest {

    private static final int FRAME_OFFSET_IN_RECORD = RECORD_HEADER_SIZE + ForwardedFrame.VNET_HEADER_SIZE;

    @Test
    void decodesAnyValidStreamIdenticallyWhereverItIsSplit() {
        SeededTrials.run(150, random -> {
            EncodedStream stream = EncodedStream.of(
                    EncodedStream.randomFrames(random, 30, ForwardedFrame.MAX_FRAME_LENGTH));
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(stream.bytes(), EncodedStream.randomChunks(random, stream.bytes().length),
                    buffers);

            assertThat(outcome.failure()).isNull();
            assertThat(outcome.frames()).isEqualTo(stream.frames());
            assertThat(outcome.ended()).isTrue();
            assertThat(outcome.lastSequence()).isEqualTo(
                    stream.frames().isEmpty() ? FrameStreamDecoder.NO_SEQUENCE : stream.frames().getLast().sequence());
            buffers.assertAllReleased();
        });
    }

    @Test
    void decodesAnyValidBodyIdenticallyAsAFlux() {
        SeededTrials.run(100, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomFrames(random, 30, 9_000));
            TrackedBuffers buffers = new TrackedBuffers();
            FrameStreamDecoder decoder = new FrameStreamDecoder();

            List<ForwardedFrame> decoded = decoder.decode(body(stream.bytes(),
                    EncodedStream.randomChunks(random, stream.bytes().length), buffers)).collectList().block();

            assertThat(decoded).isEqualTo(stream.frames());
            assertThat(decoder.ended()).isTrue();
            buffers.assertAllReleased();
        });
    }

    @Test
    void rejectsGarbageOnlyAsMalformed() {
        SeededTrials.run(600, random -> {
            EncodedStream validPrefix = EncodedStream.of(EncodedStream.randomFrames(random, 3, 200), false);
            int keep = switch (random.nextInt(3)) {
                case 0 -> 0;
                case 1 -> STREAM_HEADER_SIZE;
                default -> validPrefix.bytes().length;
            };
            byte[] garbage = new byte[random.nextInt(400)];
            random.nextBytes(garbage);
            if (random.nextBoolean() && garbage.length > 0) {
                // Mostly FRAME or END type bytes with zero flags and reserved bytes, to get past the first checks.
                garbage[0] = (byte) (1 + random.nextInt(2));
                Arrays.fill(garbage, 1, Math.min(4, garbage.length), (byte) 0);
            }
            byte[] bytes = Arrays.copyOf(validPrefix.bytes(), keep + garbage.length);
            System.arraycopy(garbage, 0, bytes, keep, garbage.length);
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(bytes, EncodedStream.randomChunks(random, bytes.length), buffers);

            int wholeRecords = keep == validPrefix.bytes().length ? validPrefix.frames().size() : 0;
            assertStartsWith(outcome.frames(), validPrefix.frames().subList(0, wholeRecords));
            buffers.assertAllReleased();
        });
    }

    @Test
    void decodesATruncatedStreamToAPrefixOfItsFrames() {
        SeededTrials.run(300, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomFrames(random, 10, 3_000));
            int cut = random.nextInt(stream.bytes().length);
            byte[] truncated = Arrays.copyOf(stream.bytes(), cut);
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(truncated, EncodedStream.randomChunks(random, cut), buffers);

            int wholeFrames = 0;
            while (wholeFrames < stream.frames().size() && stream.recordEnd(wholeFrames) <= cut) {
                wholeFrames++;
            }
            boolean atBoundary = cut == 0 || cut == STREAM_HEADER_SIZE || stream.recordStarts().contains(cut);
            assertThat(outcome.frames()).isEqualTo(stream.frames().subList(0, wholeFrames));
            assertThat(outcome.ended()).isFalse();
            assertThat(outcome.failure() == null).as("stopped at a record boundary").isEqualTo(atBoundary);
            buffers.assertAllReleased();
        });
    }

    @Test
    void decodesAStreamWithOneByteChangedToAPrefixOrTheExpectedChangeOrRejectsIt() {
        SeededTrials.run(1_000, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomFrames(random, 6, 300));
            int position = random.nextBoolean() ? random.nextInt(stream.bytes().length) : randomHeaderByte(random,
                    stream);
            byte[] mutated = stream.bytes().clone();
            mutated[position] ^= (byte) (1 + random.nextInt(255));
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(mutated, EncodedStream.randomChunks(random, mutated.length), buffers);

            Mutation mutation = Mutation.at(stream, position, mutated);
            assertStartsWith(outcome.frames(), mutation.before());
            switch (mutation.expected()) {
                case REJECTED -> {
                    assertThat(outcome.failure()).as("failure for a change at byte %d", position).isNotNull();
                    assertThat(outcome.frames()).isEqualTo(mutation.before());
                    assertThat(outcome.failure().streamOffset()).as(outcome.failure().getMessage())
                            .isBetween((long) mutation.rejectedFrom(), (long) mutation.rejectedTo() - 1);
                }
                case DECODED_WITH_THE_CHANGE -> {
                    assertThat(outcome.failure()).isNull();
                    assertThat(outcome.ended()).isTrue();
                    assertThat(outcome.frames()).isEqualTo(mutation.before());
                }
                case EITHER -> {
                    // A changed length moves every boundary after it: only the frames before it are certain.
                }
            }
            buffers.assertAllReleased();
        });
    }

    @Test
    void releasesEveryChunkWhenTheReceiverCancelsOrTheBodyIsMalformed() {
        SeededTrials.run(200, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomFrames(random, 20, 2_000));
            byte[] bytes = stream.bytes().clone();
            if (random.nextBoolean()) {
                bytes[random.nextInt(bytes.length)] ^= (byte) (1 + random.nextInt(255));
            }
            TrackedBuffers buffers = new TrackedBuffers();
            List<ForwardedFrame> received = new ArrayList<>();

            try {
                new FrameStreamDecoder().decode(body(bytes, EncodedStream.randomChunks(random, bytes.length), buffers))
                        .doOnNext(received::add)
                        .take(1 + random.nextInt(stream.frames().size() + 1))
                        .blockLast();
            } catch (MalformedFrameStreamException expected) {
                // A corrupted body may fail; what matters here is what became of its chunks.
            }

            assertThat(buffers.handedOut()).isPositive();
            buffers.assertAllReleased();
        });
    }

    /** Decodes {@code bytes} chunk by chunk as a receiver would, then finishes; only malformation is caught. */
    private static Outcome decode(byte[] bytes, List<Integer> chunkLengths, TrackedBuffers buffers) {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<ForwardedFrame> frames = new ArrayList<>();
        MalformedFrameStreamException failure = null;
        int from = 0;
        for (int length : chunkLengths) {
            DataBuffer chunk = buffers.copyOf(bytes, from, from + length);
            from += length;
            try {
                decoder.decode(chunk, frames::add);
            } catch (MalformedFrameStreamException e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure == null) {
            try {
                decoder.finish();
            } catch (MalformedFrameStreamException e) {
                failure = e;
            }
        }
        return new Outcome(frames, failure, decoder.ended(), decoder.lastSequence());
    }

    /** A byte of the stream header or of a record header, where most of the format's rules apply. */
    private static int randomHeaderByte(SplittableRandom random, EncodedStream stream) {
        int header = random.nextInt(stream.recordStarts().size() + 1);
        int start = header == 0 ? 0 : stream.recordStarts().get(header - 1);
        return start + random.nextInt(header == 0 ? STREAM_HEADER_SIZE : RECORD_HEADER_SIZE);
    }

    private static void assertStartsWith(List<ForwardedFrame> frames, List<ForwardedFrame> prefix) {
        assertThat(frames).hasSizeGreaterThanOrEqualTo(prefix.size());
        assertThat(frames.subList(0, prefix.size())).isEqualTo(prefix);
    }

    private static Flux<DataBuffer> body(byte[] bytes, List<Integer> chunkLengths, TrackedBuffers buffers) {
        int[] starts = new int[chunkLengths.size()];
        for (int i = 1; i < starts.length; i++) {
            starts[i] = starts[i - 1] + chunkLengths.get(i - 1);
        }
        return Flux.range(0, starts.length)
                .map(i -> buffers.copyOf(bytes, starts[i], starts[i] + chunkLengths.get(i)));
    }

    private record Outcome(List<ForwardedFrame> frames, @Nullable MalformedFrameStreamException failure,
            boolean ended, long lastSequence) {
    }

    private enum Expected { REJECTED, DECODED_WITH_THE_CHANGE, EITHER }

    /**
     * What a one-byte change must do, from where it is: a change to a field with one valid value, or a sequence
     * put out of order, must be rejected within the record header it breaks; a change to the payload, to the dropped
     * flag or to a sequence still in order must decode with exactly that change (the format has no checksum: HTTP/2
     * runs over TCP, and over TLS in production); a changed length moves every boundary after it, so only the frames
     * before it are certain.
     *
     * @param before the frames that must decode first: all of them if the change must be decoded
     * @param rejectedFrom first offset a rejection may name
     * @param rejectedTo end of the offsets a rejection may name
     */
    private record Mutation(List<ForwardedFrame> before, Expected expected, int rejectedFrom, int rejectedTo) {

        static Mutation at(EncodedStream stream, int position, byte[] mutated) {
            List<ForwardedFrame> frames = stream.frames();
            if (position < STREAM_HEADER_SIZE) {
                return rejected(List.of(), 0, STREAM_HEADER_SIZE);
            }
            int record = 0;
            while (stream.recordEnd(record) <= position) {
                record++;
            }
            int start = stream.recordStarts().get(record);
            int field = position - start;
            if (record == frames.size()) {
                return rejected(frames, start, start + RECORD_HEADER_SIZE);
            }
            ForwardedFrame original = frames.get(record);
            List<ForwardedFrame> framesBefore = frames.subList(0, record);
            if (field == 1 && (mutated[position] ^ stream.bytes()[position]) == 0x01) {
                return decoded(frames, record, new ForwardedFrame(original.sequence(), !original.droppedByTap(),
                        original.vnetHeader(), original.frame()));
            }
            if (field < 4) {
                return rejected(framesBefore, start, start + RECORD_HEADER_SIZE);
            }
            if (field < 8) {
                return new Mutation(framesBefore, Expected.EITHER, 0, 0);
            }
            if (field < RECORD_HEADER_SIZE) {
                long sequence = ByteBuffer.wrap(mutated).getLong(start + 8);
                long previous = record == 0 ? FrameStreamDecoder.NO_SEQUENCE : frames.get(record - 1).sequence();
                if (sequence <= previous) {
                    return rejected(framesBefore, start, start + RECORD_HEADER_SIZE);
                }
                Mutation withNewSequence = decoded(frames, record, new ForwardedFrame(sequence,
                        original.droppedByTap(), original.vnetHeader(), original.frame()));
                boolean overtakesNext = record + 1 < frames.size() && sequence >= frames.get(record + 1).sequence();
                if (overtakesNext) {
                    int next = stream.recordStarts().get(record + 1);
                    return rejected(withNewSequence.before().subList(0, record + 1), next, next + RECORD_HEADER_SIZE);
                }
                return withNewSequence;
            }
            int frameStart = start + FRAME_OFFSET_IN_RECORD;
            return decoded(frames, record, new ForwardedFrame(original.sequence(), original.droppedByTap(),
                    Arrays.copyOfRange(mutated, start + RECORD_HEADER_SIZE, frameStart),
                    Arrays.copyOfRange(mutated, frameStart, stream.recordEnd(record))));
        }

        private static Mutation rejected(List<ForwardedFrame> before, int from, int to) {
            return new Mutation(List.copyOf(before), Expected.REJECTED, from, to);
        }

        private static Mutation decoded(List<ForwardedFrame> frames, int record, ForwardedFrame changed) {
            List<ForwardedFrame> all = new ArrayList<>(frames);
            all.set(record, changed);
            return new Mutation(all, Expected.DECODED_WITH_THE_CHANGE, 0, 0);
        }
    }
}
