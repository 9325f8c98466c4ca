package io.netpass.agent.stream;

import static io.netpass.agent.stream.EncodedStream.RECORD_HEADER_SIZE;
import static io.netpass.agent.stream.EncodedStream.STREAM_HEADER_SIZE;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.core.io.buffer.DataBuffer;

import io.netpass.agent.testing.SeededTrials;

import reactor.core.publisher.Flux;

/**
 * Properties of the decoder over random streams of FRAME, READ and held FRAME records, random chunk boundaries and
 * random corruption: it decodes every valid stream the same however it is split, it never fails other than with a
 * {@link MalformedFrameStreamException}, and it releases every buffer it is given.
 */
class FrameStreamDecoderFuzzTest {

    private static final int FRAME_OFFSET_IN_RECORD = RECORD_HEADER_SIZE + ForwardedFrame.VNET_HEADER_SIZE;
    private static final int LENGTH_OFFSET = 4;
    private static final int SEQUENCE_OFFSET = 8;

    @Test
    void decodesAnyValidStreamIdenticallyWhereverItIsSplit() {
        SeededTrials.run(150, random -> {
            EncodedStream stream = EncodedStream.of(
                    EncodedStream.randomRecords(random, 30, ForwardedFrame.MAX_FRAME_LENGTH));
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(stream.bytes(), EncodedStream.randomChunks(random, stream.bytes().length),
                    buffers);

            assertThat(outcome.failure()).isNull();
            assertThat(outcome.records()).isEqualTo(stream.records());
            assertThat(outcome.ended()).isTrue();
            assertThat(outcome.lastSequence()).isEqualTo(stream.lastSequence());
            buffers.assertAllReleased();
        });
    }

    @Test
    void generatesStreamsWithEveryKindOfRecord() {
        List<FrameStreamRecord> records = new ArrayList<>();
        SeededTrials.run(50, random -> records.addAll(EncodedStream.randomRecords(random, 30, 100)));

        assertThat(records).anyMatch(record -> record instanceof SourceRead read && !read.finalCount())
                .anyMatch(record -> record instanceof SourceRead read && read.finalCount())
                .anyMatch(record -> record instanceof ForwardedFrame frame && frame.heldByVmm())
                .anyMatch(record -> record instanceof ForwardedFrame frame && !frame.heldByVmm())
                .anyMatch(record -> record instanceof SourceRead read && read.sampleAgeMicros() == 0)
                .anyMatch(record -> record instanceof SourceRead read
                        && read.sampleAgeMicros() == SourceRead.MAX_SAMPLE_AGE_MICROS);
        assertThat(IntStream.range(1, records.size())).as("a READ repeating the one before with another age")
                .anyMatch(i -> records.get(i - 1) instanceof SourceRead previous
                        && records.get(i) instanceof SourceRead read && read.unreadFrom() == previous.unreadFrom()
                        && read.sampleAgeMicros() != previous.sampleAgeMicros());
        assertThat(IntStream.range(1, records.size())).as("a frame after a READ flagged FINAL_COUNT")
                .anyMatch(i -> records.get(i - 1) instanceof SourceRead read && read.finalCount()
                        && records.get(i) instanceof ForwardedFrame);
    }

    @Test
    void decodesAnyValidBodyIdenticallyAsAFlux() {
        SeededTrials.run(100, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomRecords(random, 30, 9_000));
            TrackedBuffers buffers = new TrackedBuffers();
            FrameStreamDecoder decoder = new FrameStreamDecoder();

            List<FrameStreamRecord> decoded = decoder.decode(body(stream.bytes(),
                    EncodedStream.randomChunks(random, stream.bytes().length), buffers)).collectList().block();

            assertThat(decoded).isEqualTo(stream.records());
            assertThat(decoder.ended()).isTrue();
            assertThat(decoder.lastSequence()).isEqualTo(stream.lastSequence());
            buffers.assertAllReleased();
        });
    }

    @Test
    void rejectsGarbageOnlyAsMalformed() {
        SeededTrials.run(600, random -> {
            EncodedStream validPrefix = EncodedStream.of(EncodedStream.randomRecords(random, 3, 200), false);
            int keep = switch (random.nextInt(3)) {
                case 0 -> 0;
                case 1 -> STREAM_HEADER_SIZE;
                default -> validPrefix.bytes().length;
            };
            byte[] garbage = new byte[random.nextInt(400)];
            random.nextBytes(garbage);
            if (random.nextBoolean() && garbage.length > 0) {
                // Mostly FRAME, END or READ type bytes with zero flags and reserved bytes, to get past the first
                // checks.
                garbage[0] = (byte) (1 + random.nextInt(3));
                Arrays.fill(garbage, 1, Math.min(4, garbage.length), (byte) 0);
            }
            byte[] bytes = Arrays.copyOf(validPrefix.bytes(), keep + garbage.length);
            System.arraycopy(garbage, 0, bytes, keep, garbage.length);
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(bytes, EncodedStream.randomChunks(random, bytes.length), buffers);

            int wholeRecords = keep == validPrefix.bytes().length ? validPrefix.records().size() : 0;
            assertStartsWith(outcome.records(), validPrefix.records().subList(0, wholeRecords));
            buffers.assertAllReleased();
        });
    }

    @Test
    void decodesATruncatedStreamToAPrefixOfItsRecords() {
        SeededTrials.run(300, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomRecords(random, 10, 3_000));
            int cut = random.nextInt(stream.bytes().length);
            byte[] truncated = Arrays.copyOf(stream.bytes(), cut);
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(truncated, EncodedStream.randomChunks(random, cut), buffers);

            int wholeRecords = 0;
            while (wholeRecords < stream.records().size() && stream.recordEnd(wholeRecords) <= cut) {
                wholeRecords++;
            }
            boolean atBoundary = cut == 0 || cut == STREAM_HEADER_SIZE || stream.recordStarts().contains(cut);
            assertThat(outcome.records()).isEqualTo(stream.records().subList(0, wholeRecords));
            assertThat(outcome.ended()).isFalse();
            assertThat(outcome.failure() == null).as("stopped at a record boundary").isEqualTo(atBoundary);
            buffers.assertAllReleased();
        });
    }

    @Test
    void decodesAStreamWithOneByteChangedToAPrefixOrTheExpectedChangeOrRejectsIt() {
        SeededTrials.run(1_500, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomRecords(random, 6, 300));
            int position = random.nextBoolean() ? random.nextInt(stream.bytes().length) : randomHeaderByte(random,
                    stream);
            byte[] mutated = stream.bytes().clone();
            mutated[position] ^= (byte) (1 + random.nextInt(255));
            TrackedBuffers buffers = new TrackedBuffers();

            Outcome outcome = decode(mutated, EncodedStream.randomChunks(random, mutated.length), buffers);

            Mutation mutation = Mutation.at(stream, position, mutated);
            assertStartsWith(outcome.records(), mutation.before());
            switch (mutation.expected()) {
                case REJECTED -> {
                    assertThat(outcome.failure()).as("failure for a change at byte %d", position).isNotNull();
                    assertThat(outcome.records()).isEqualTo(mutation.before());
                    assertThat(outcome.failure().streamOffset()).as(outcome.failure().getMessage())
                            .isBetween((long) mutation.rejectedFrom(), (long) mutation.rejectedTo() - 1);
                }
                case DECODED_WITH_THE_CHANGE, DECODED_WITHOUT_END -> {
                    assertThat(outcome.failure()).isNull();
                    assertThat(outcome.ended()).isEqualTo(mutation.expected() == Expected.DECODED_WITH_THE_CHANGE);
                    assertThat(outcome.records()).isEqualTo(mutation.before());
                }
                case EITHER -> {
                    // A changed length moves every boundary after it: only the records before it are certain.
                }
            }
            buffers.assertAllReleased();
        });
    }

    @Test
    void releasesEveryChunkWhenTheReceiverCancelsOrTheBodyIsMalformed() {
        SeededTrials.run(200, random -> {
            EncodedStream stream = EncodedStream.of(EncodedStream.randomRecords(random, 20, 2_000));
            byte[] bytes = stream.bytes().clone();
            if (random.nextBoolean()) {
                bytes[random.nextInt(bytes.length)] ^= (byte) (1 + random.nextInt(255));
            }
            TrackedBuffers buffers = new TrackedBuffers();
            List<FrameStreamRecord> received = new ArrayList<>();

            try {
                new FrameStreamDecoder().decode(body(bytes, EncodedStream.randomChunks(random, bytes.length), buffers))
                        .doOnNext(received::add)
                        .take(1 + random.nextInt(stream.records().size() + 1))
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
        List<FrameStreamRecord> records = new ArrayList<>();
        MalformedFrameStreamException failure = null;
        int from = 0;
        for (int length : chunkLengths) {
            DataBuffer chunk = buffers.copyOf(bytes, from, from + length);
            from += length;
            try {
                decoder.decode(chunk, records::add);
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
        return new Outcome(records, failure, decoder.ended(), decoder.lastSequence());
    }

    /** A byte of the stream header or of a record header, where most of the format's rules apply. */
    private static int randomHeaderByte(SplittableRandom random, EncodedStream stream) {
        int header = random.nextInt(stream.recordStarts().size() + 1);
        int start = header == 0 ? 0 : stream.recordStarts().get(header - 1);
        return start + random.nextInt(header == 0 ? STREAM_HEADER_SIZE : RECORD_HEADER_SIZE);
    }

    private static void assertStartsWith(List<FrameStreamRecord> records, List<FrameStreamRecord> prefix) {
        assertThat(records).hasSizeGreaterThanOrEqualTo(prefix.size());
        assertThat(records.subList(0, prefix.size())).isEqualTo(prefix);
    }

    private static Flux<DataBuffer> body(byte[] bytes, List<Integer> chunkLengths, TrackedBuffers buffers) {
        int[] starts = new int[chunkLengths.size()];
        for (int i = 1; i < starts.length; i++) {
            starts[i] = starts[i - 1] + chunkLengths.get(i - 1);
        }
        return Flux.range(0, starts.length)
                .map(i -> buffers.copyOf(bytes, starts[i], starts[i] + chunkLengths.get(i)));
    }

    private record Outcome(List<FrameStreamRecord> records, @Nullable MalformedFrameStreamException failure,
            boolean ended, long lastSequence) {
    }

    private enum Expected { REJECTED, DECODED_WITH_THE_CHANGE, DECODED_WITHOUT_END, EITHER }

    /**
     * What a one-byte change must do, from where it is. A changed FRAME length moves every boundary after it, so
     * only the records before it are certain; so does a changed type byte that turns a FRAME into a valid READ or a
     * READ into a valid FRAME (a READ's length field carries its sample age). Any other change keeps the boundaries,
     * so the changed stream is checked record by record against the format's rules as docs/frame-stream.md states
     * them: the first record that breaks one must be rejected within its header, and a stream that breaks none must
     * decode with exactly that change (the format has no checksum: HTTP/2 runs over TCP, and over TLS in
     * production).
     *
     * @param before the records that must decode first: all of them if the change must be decoded
     * @param rejectedFrom first offset a rejection may name
     * @param rejectedTo end of the offsets a rejection may name
     */
    private record Mutation(List<FrameStreamRecord> before, Expected expected, int rejectedFrom, int rejectedTo) {

        static Mutation at(EncodedStream stream, int position, byte[] mutated) {
            if (position < STREAM_HEADER_SIZE) {
                return rejected(List.of(), 0, STREAM_HEADER_SIZE);
            }
            int changed = 0;
            while (stream.recordEnd(changed) <= position) {
                changed++;
            }
            int field = position - stream.recordStarts().get(changed);
            if (changed < stream.records().size() && stream.records().get(changed) instanceof ForwardedFrame
                    && field >= LENGTH_OFFSET && field < LENGTH_OFFSET + 4) {
                return new Mutation(stream.records().subList(0, changed), Expected.EITHER, 0, 0);
            }
            return checkRecordByRecord(stream, mutated);
        }

        private static Mutation checkRecordByRecord(EncodedStream stream, byte[] mutated) {
            ByteBuffer fields = ByteBuffer.wrap(mutated);
            List<FrameStreamRecord> decoded = new ArrayList<>();
            long lastFrame = FrameStreamDecoder.NO_SEQUENCE;
            long unreadFrom = 0;
            long frames = 0;
            for (int record = 0; record < stream.recordStarts().size(); record++) {
                int start = stream.recordStarts().get(record);
                int end = stream.recordEnd(record);
                boolean wasFrame = record < stream.records().size()
                        && stream.records().get(record) instanceof ForwardedFrame;
                int type = mutated[start];
                int flags = Byte.toUnsignedInt(mutated[start + 1]);
                long length = Integer.toUnsignedLong(fields.getInt(start + LENGTH_OFFSET));
                long sequence = fields.getLong(start + SEQUENCE_OFFSET);
                boolean heldByVmm = (flags & 0x02) != 0;
                boolean valid = fields.getShort(start + 2) == 0 && sequence >= 0 && switch (type) {
                    case 1 -> (flags & ~0x03) == 0 && length >= ForwardedFrame.MIN_FRAME_LENGTH
                            && length <= ForwardedFrame.MAX_FRAME_LENGTH
                            && (heldByVmm ? sequence == unreadFrom - 1
                                    : sequence > Math.max(lastFrame, unreadFrom - 1));
                    case 2 -> flags == 0 && length == 0 && sequence == frames;
                    case 3 -> (flags & ~0x01) == 0 && sequence >= unreadFrom;
                    default -> false;
                };
                if (!valid) {
                    return rejected(decoded, start, start + RECORD_HEADER_SIZE);
                }
                if (type == 1 && !wasFrame) {
                    // A READ or END turned FRAME: its body is whatever follows.
                    return new Mutation(decoded, Expected.EITHER, 0, 0);
                }
                switch (type) {
                    case 1 -> {
                        decoded.add(new ForwardedFrame(sequence, (flags & 0x01) != 0, heldByVmm,
                                Arrays.copyOfRange(mutated, start + RECORD_HEADER_SIZE, start + FRAME_OFFSET_IN_RECORD),
                                Arrays.copyOfRange(mutated, start + FRAME_OFFSET_IN_RECORD, end)));
                        frames++;
                        lastFrame = heldByVmm ? lastFrame : sequence;
                    }
                    case 3 -> {
                        decoded.add(new SourceRead(sequence, length, (flags & 0x01) != 0));
                        unreadFrom = sequence;
                        if (wasFrame) {
                            // A FRAME turned READ: what was its body is read as records.
                            return new Mutation(decoded, Expected.EITHER, 0, 0);
                        }
                    }
                    default -> {
                        return end < mutated.length ? rejected(decoded, end, end + 1)
                                : new Mutation(decoded, Expected.DECODED_WITH_THE_CHANGE, 0, 0);
                    }
                }
            }
            return new Mutation(decoded, Expected.DECODED_WITHOUT_END, 0, 0);
        }

        private static Mutation rejected(List<FrameStreamRecord> before, int from, int to) {
            return new Mutation(List.copyOf(before), Expected.REJECTED, from, to);
        }
    }
}
