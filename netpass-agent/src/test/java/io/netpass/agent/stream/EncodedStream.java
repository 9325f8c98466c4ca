package io.netpass.agent.stream;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

/**
 * A valid frame stream as bytes, with the records it carries and where each record starts.
 *
 * @param recordStarts offset of each FRAME or READ record, then of the END record (absent if {@code ended} is false)
 */
record EncodedStream(List<FrameStreamRecord> records, byte[] bytes, List<Integer> recordStarts, boolean ended) {

    static final int STREAM_HEADER_SIZE = 8;
    static final int RECORD_HEADER_SIZE = 16;

    private static final FrameStreamEncoder ENCODER = new FrameStreamEncoder();

    static EncodedStream of(List<? extends FrameStreamRecord> records) {
        return of(records, true);
    }

    static EncodedStream of(List<? extends FrameStreamRecord> records, boolean ended) {
        DefaultDataBufferFactory factory = DefaultDataBufferFactory.sharedInstance;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Integer> starts = new ArrayList<>();
        append(out, ENCODER.header(factory));
        for (FrameStreamRecord record : records) {
            starts.add(out.size());
            append(out, switch (record) {
                case ForwardedFrame frame -> ENCODER.encode(frame, factory);
                case SourceRead read -> ENCODER.read(read, factory);
            });
        }
        if (ended) {
            starts.add(out.size());
            append(out, ENCODER.end(framesIn(records).size(), factory));
        }
        return new EncodedStream(List.copyOf(records), out.toByteArray(), List.copyOf(starts), ended);
    }

    /** The FRAME records, held ones included, in order. */
    List<ForwardedFrame> frames() {
        return framesIn(records);
    }

    /** Sequence of the last FRAME record not held by the VMM, as the decoder's {@code lastSequence()} tells it. */
    long lastSequence() {
        return frames().stream().filter(frame -> !frame.heldByVmm()).mapToLong(ForwardedFrame::sequence)
                .reduce((first, second) -> second).orElse(FrameStreamDecoder.NO_SEQUENCE);
    }

    static List<ForwardedFrame> framesIn(List<? extends FrameStreamRecord> records) {
        return records.stream().filter(ForwardedFrame.class::isInstance).map(ForwardedFrame.class::cast).toList();
    }

    /** End offset of the record at {@code index}. */
    int recordEnd(int index) {
        return index + 1 < recordStarts.size() ? recordStarts.get(index + 1) : bytes.length;
    }

    /**
     * A valid record sequence as a source sends it: frames numbered in increasing order, mostly small, sometimes of
     * the smallest or largest length allowed, with READ records as its VM reads on (sometimes behind the frames
     * already sent, sometimes ahead of them, sometimes repeating the previous count), each with a sample age from
     * 0 to 2^32 − 1 µs, a READ sometimes followed by the last frame it counts read flagged held by the VMM. Some
     * streams carry one READ flagged FINAL_COUNT, after which only frames follow (the source learned that its VM
     * runs elsewhere, so it counts no more reads).
     */
    static List<FrameStreamRecord> randomRecords(SplittableRandom random, int maxRecords, int maxFrameLength) {
        int count = random.nextInt(maxRecords + 1);
        long sequence = random.nextInt(8) == 0
                ? random.nextLong(Long.MAX_VALUE - 2_000_001L * (maxRecords + 1))
                : random.nextLong(1_000) - 1;
        long unreadFrom = 0;
        int readOdds = random.nextInt(4);
        boolean finalCounted = false;
        List<FrameStreamRecord> records = new ArrayList<>(count);
        while (records.size() < count) {
            if (!finalCounted && readOdds > 0 && random.nextInt(4) < readOdds) {
                if (random.nextInt(3) > 0) {
                    long behindOrAhead = random.nextInt(3) == 0 ? random.nextInt(1_000_000) : random.nextInt(3);
                    unreadFrom = Math.max(unreadFrom, sequence + 1 - random.nextInt(4) + behindOrAhead);
                }
                finalCounted = random.nextInt(8) == 0;
                records.add(new SourceRead(unreadFrom, randomSampleAge(random), finalCounted));
                if (unreadFrom > 0 && random.nextBoolean()) {
                    records.add(randomFrame(random, unreadFrom - 1, true, maxFrameLength));
                }
            } else {
                sequence = Math.max(sequence, unreadFrom - 1)
                        + (random.nextInt(4) == 0 ? 1 + random.nextInt(1_000_000) : 1);
                records.add(randomFrame(random, sequence, false, maxFrameLength));
            }
        }
        return List.copyOf(records.subList(0, count));
    }

    private static long randomSampleAge(SplittableRandom random) {
        return switch (random.nextInt(6)) {
            case 0 -> 0;
            case 1 -> SourceRead.MAX_SAMPLE_AGE_MICROS;
            case 2 -> random.nextLong(SourceRead.MAX_SAMPLE_AGE_MICROS + 1);
            default -> random.nextInt(20_000);
        };
    }

    private static ForwardedFrame randomFrame(SplittableRandom random, long sequence, boolean heldByVmm,
            int maxFrameLength) {
        byte[] vnetHeader = new byte[ForwardedFrame.VNET_HEADER_SIZE];
        if (random.nextBoolean()) {
            random.nextBytes(vnetHeader);
        }
        byte[] frame = new byte[randomLength(random, maxFrameLength)];
        random.nextBytes(frame);
        return new ForwardedFrame(sequence, random.nextInt(5) == 0, heldByVmm, vnetHeader, frame);
    }

    private static int randomLength(SplittableRandom random, int maxFrameLength) {
        int min = ForwardedFrame.MIN_FRAME_LENGTH;
        return switch (random.nextInt(20)) {
            case 0 -> min;
            case 1 -> maxFrameLength;
            case 2, 3 -> random.nextInt(min, maxFrameLength + 1);
            default -> random.nextInt(min, Math.min(1_514, maxFrameLength) + 1);
        };
    }

    /**
     * Chunk lengths adding up to {@code total}: sometimes one chunk, sometimes single bytes, mostly a mix of tiny,
     * small and large chunks and the odd empty one.
     */
    static List<Integer> randomChunks(SplittableRandom random, int total) {
        List<Integer> chunks = new ArrayList<>();
        int strategy = random.nextInt(10);
        if (strategy == 0) {
            chunks.add(total);
            return chunks;
        }
        boolean singleBytes = strategy == 1 && total <= 4_096;
        int left = total;
        while (left > 0) {
            int length = singleBytes ? 1 : switch (random.nextInt(20)) {
                case 0 -> 0;
                case 1, 2, 3, 4, 5 -> random.nextInt(1, 17);
                case 6, 7, 8, 9, 10, 11 -> random.nextInt(17, 2_049);
                case 12 -> left;
                default -> random.nextInt(2_049, 20_001);
            };
            length = Math.min(length, left);
            chunks.add(length);
            left -= length;
        }
        if (random.nextInt(10) == 0) {
            chunks.add(0);
        }
        return chunks;
    }

    static byte[] bytesOf(DataBuffer buffer) {
        try {
            byte[] bytes = new byte[buffer.readableByteCount()];
            buffer.read(bytes);
            return bytes;
        } finally {
            DataBufferUtils.release(buffer);
        }
    }

    private static void append(ByteArrayOutputStream out, DataBuffer buffer) {
        out.writeBytes(bytesOf(buffer));
    }
}
