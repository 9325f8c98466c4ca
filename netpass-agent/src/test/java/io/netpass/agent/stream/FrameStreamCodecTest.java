package io.netpass.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.reactivestreams.Subscription;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

import io.netpass.agent.capture.KeptFrame;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Flux;

class FrameStreamCodecTest {

    private static final HexFormat HEX = HexFormat.of();

    private final TrackedBuffers buffers = new TrackedBuffers();
    private final FrameStreamEncoder encoder = new FrameStreamEncoder();

    @Test
    void roundTripsManyFramesIncludingA65000ByteFrame() {
        List<ForwardedFrame> frames = new ArrayList<>();
        int[] lengths = {60, 1_514, 14, 65_000, 9_014, ForwardedFrame.MAX_FRAME_LENGTH, 64, 1_500};
        for (int i = 0; i < 500; i++) {
            frames.add(frame(10L + 3L * i, lengths[i % lengths.length], i % 7 == 0));
        }
        DataBufferFactory factory = buffers.factory();
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> decoded = new ArrayList<>();

        decoded.addAll(decoder.decode(encoder.header(factory)));
        for (ForwardedFrame frame : frames) {
            decoded.addAll(decoder.decode(encoder.encode(frame, factory)));
        }
        assertThat(decoder.ended()).isFalse();
        decoded.addAll(decoder.decode(encoder.end(frames.size(), factory)));
        decoder.finish();

        assertThat(decoded).isEqualTo(frames);
        assertThat(decoder.ended()).isTrue();
        assertThat(decoder.lastSequence()).isEqualTo(10L + 3L * 499);
        assertThat(buffers.handedOut()).isEqualTo(frames.size() + 2);
        buffers.assertAllReleased();
    }

    @Test
    void roundTripsFramesReadRecordsAndHeldFramesInOrder() throws ReflectiveOperationException {
        // Frames 10 to 12 forwarded ahead; the VM reads on to 11, whose held copy comes again below frame 12; the
        // VM reads 13, a newer count finds nothing more read, then the VM reads ahead of every frame sent; the final
        // count, once the VM runs elsewhere, has it read up to 25, and the stream ends on that held frame and one that
        // reached the source's tap after.
        List<FrameStreamRecord> records = List.of(frame(10, 60, false), frame(11, 1_514, true), frame(12, 14, false),
                new SourceRead(12, 730), heldByVmm(frame(11, 1_514, true)), frame(13, 65_000, false),
                new SourceRead(14, 0), new SourceRead(14, 51_000), new SourceRead(21, SourceRead.MAX_SAMPLE_AGE_MICROS),
                frame(21, 98, false), new SourceRead(26, 1, true), heldByVmm(frame(25, 60, false)),
                frame(26, 60, false));
        DataBufferFactory factory = buffers.factory();
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> decoded = new ArrayList<>(decoder.decode(encoder.header(factory)));

        for (FrameStreamRecord record : records) {
            DataBuffer encoded = switch (record) {
                case SourceRead read -> encoder.read(read, factory);
                case ForwardedFrame frame when frame.heldByVmm() -> encoder.encodeHeldByVmm(keptFrame(frame.sequence(),
                        frame.droppedByTap(), MemorySegment.ofArray(frame.vnetHeader()),
                        MemorySegment.ofArray(frame.frame())), factory);
                case ForwardedFrame frame -> encoder.encode(frame, factory);
            };
            decoded.addAll(decoder.decode(encoded));
        }
        decoded.addAll(decoder.decode(encoder.end(8, factory)));
        decoder.finish();

        assertThat(decoded).isEqualTo(records);
        assertThat(decoder.ended()).isTrue();
        assertThat(decoder.lastSequence()).as("the last frame not held by the VMM").isEqualTo(26);
        assertThat(new FrameStreamDecoder().decode(body(EncodedStream.of(records).bytes(), 7)).collectList().block())
                .isEqualTo(records);
        buffers.assertAllReleased();
    }

    @Test
    void decodesTheSameFramesFromOneChunkAsFromOneChunkPerRecord() {
        List<ForwardedFrame> frames = List.of(frame(0, 65_000, false), frame(1, 14, true), frame(7, 1_514, false));
        EncodedStream stream = EncodedStream.of(frames);
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        assertThat(decoder.decode(buffers.copyOf(stream.bytes()))).isEqualTo(frames);
        assertThat(decoder.ended()).isTrue();
        buffers.assertAllReleased();
    }

    @Test
    void writesTheStreamHeaderAsMagicVersionFlagsAndReserved() {
        assertThat(hex(encoder.header(DefaultDataBufferFactory.sharedInstance))).isEqualTo("4e50465302000000");
    }

    @Test
    void writesRecordsBigEndianExactlyAsTheFormatDocumentShows() {
        byte[] ethernetHeader = HEX.parseHex("ffffffffffff52540012345608" + "06");
        ForwardedFrame frame = new ForwardedFrame(5, true, new byte[10], ethernetHeader);
        DataBufferFactory factory = DefaultDataBufferFactory.sharedInstance;

        assertThat(hex(encoder.encode(frame, factory)))
                .isEqualTo("0101" + "0000" + "0000000e" + "0000000000000005" + "00".repeat(10) + "ffffffffffff"
                        + "525400123456" + "0806");
        assertThat(hex(encoder.end(1, factory))).isEqualTo("0200" + "0000" + "00000000" + "0000000000000001");
    }

    @Test
    void writesReadRecordsAndTheHeldFlagExactlyAsTheFormatDocumentShows() {
        byte[] ethernetHeader = HEX.parseHex("ffffffffffff52540012345608" + "06");
        ForwardedFrame held = new ForwardedFrame(7, true, true, new byte[10], ethernetHeader);
        DataBufferFactory factory = DefaultDataBufferFactory.sharedInstance;

        assertThat(hex(encoder.read(8, 1_500, factory))).isEqualTo("0300" + "0000" + "000005dc" + "0000000000000008");
        assertThat(hex(encoder.read(new SourceRead(8, 1_500), factory)))
                .isEqualTo("0300" + "0000" + "000005dc" + "0000000000000008");
        assertThat(hex(encoder.read(new SourceRead(8, 1_500, true), factory))).as("flagged FINAL_COUNT")
                .isEqualTo("0301" + "0000" + "000005dc" + "0000000000000008");
        assertThat(hex(encoder.encode(held, factory)))
                .isEqualTo("0103" + "0000" + "0000000e" + "0000000000000007" + "00".repeat(10) + "ffffffffffff"
                        + "525400123456" + "0806");
    }

    @Test
    void decodesTheExampleOfTheFormatDocument() {
        byte[] ethernetHeader = HEX.parseHex("ffffffffffff52540012345608" + "06");
        byte[] example = HEX.parseHex("4e50465302000000"
                + "0101" + "0000" + "0000000e" + "0000000000000005" + "00".repeat(10) + HEX.formatHex(ethernetHeader)
                + "0300" + "0000" + "000005dc" + "0000000000000008"
                + "0102" + "0000" + "0000000e" + "0000000000000007" + "00".repeat(10) + HEX.formatHex(ethernetHeader)
                + "0200" + "0000" + "00000000" + "0000000000000002");
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        assertThat(decoder.decode(buffers.copyOf(example))).containsExactly(
                new ForwardedFrame(5, true, new byte[10], ethernetHeader), new SourceRead(8, 1_500),
                new ForwardedFrame(7, false, true, new byte[10], ethernetHeader));
        assertThat(decoder.ended()).isTrue();
        assertThat(decoder.lastSequence()).isEqualTo(5);
        buffers.assertAllReleased();
    }

    @Test
    void encodesAKeptFrameHeldByTheVmmExactlyLikeTheSameHeldForwardedFrame() throws ReflectiveOperationException {
        ForwardedFrame held = heldByVmm(frame(42, 3_000, false));
        KeptFrame kept = keptFrame(42, false, MemorySegment.ofArray(held.vnetHeader()),
                MemorySegment.ofArray(held.frame()));

        assertThat(hex(encoder.encodeHeldByVmm(kept, DefaultDataBufferFactory.sharedInstance)))
                .isEqualTo(hex(encoder.encode(held, DefaultDataBufferFactory.sharedInstance)))
                .isNotEqualTo(hex(encoder.encode(kept, DefaultDataBufferFactory.sharedInstance)));
    }

    @Test
    void encodesAKeptFrameExactlyLikeTheSameForwardedFrame() throws ReflectiveOperationException {
        byte[] vnetHeader = HEX.parseHex("01000e004205220012ff");
        byte[] bytes = frame(42, 3_000, true).frame();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offHeap = arena.allocate(bytes.length);
            offHeap.copyFrom(MemorySegment.ofArray(bytes));
            KeptFrame kept = keptFrame(42, true, MemorySegment.ofArray(vnetHeader), offHeap);

            assertThat(hex(encoder.encode(kept, DefaultDataBufferFactory.sharedInstance))).isEqualTo(
                    hex(encoder.encode(new ForwardedFrame(42, true, vnetHeader, bytes),
                            DefaultDataBufferFactory.sharedInstance)));
        }
    }

    @Test
    void refusesToEncodeWhatTheReceiverWouldReject() {
        DataBufferFactory factory = buffers.factory();
        MemorySegment tenBytes = MemorySegment.ofArray(new byte[10]);

        assertThatIllegalArgumentException()
                .isThrownBy(() -> encoder.encode(keptFrame(1, false, tenBytes, MemorySegment.ofArray(new byte[13])),
                        factory))
                .withMessage("frame 1 of 13 bytes, outside [14, 65600]");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> encoder.encode(keptFrame(1, false, tenBytes,
                        MemorySegment.ofArray(new byte[65_601])), factory))
                .withMessage("frame 1 of 65601 bytes, outside [14, 65600]");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> encoder.encode(keptFrame(1, false, MemorySegment.ofArray(new byte[9]),
                        MemorySegment.ofArray(new byte[60])), factory))
                .withMessage("vnet header of 9 bytes, expected 10");
        assertThatIllegalArgumentException().isThrownBy(() -> encoder.end(-1, factory));
        assertThatIllegalArgumentException().isThrownBy(() -> encoder.read(-1, 0, factory))
                .withMessage("unreadFrom -1 is negative");
        assertThatIllegalArgumentException().isThrownBy(() -> new SourceRead(-1, 0))
                .withMessage("unreadFrom -1 is negative");
        assertThatIllegalArgumentException().isThrownBy(() -> new SourceRead(0, -1))
                .withMessage("sample age -1 µs outside [0, 2^32-1]");
        assertThatIllegalArgumentException().isThrownBy(() -> new SourceRead(0, 1L << 32))
                .withMessage("sample age 4294967296 µs outside [0, 2^32-1]");
        assertThat(buffers.handedOut()).isZero();
    }

    @Test
    void roundTripsTheSampleAgeOfReadRecordsOverItsWholeRange() {
        long[] ages = {0, 1, 1_000, 51_000, Integer.MAX_VALUE, 1L << 31, SourceRead.MAX_SAMPLE_AGE_MICROS};
        DataBufferFactory factory = buffers.factory();
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> decoded = new ArrayList<>(decoder.decode(encoder.header(factory)));

        for (long age : ages) {
            decoded.addAll(decoder.decode(encoder.read(3, age, factory)));
        }
        decoded.addAll(decoder.decode(encoder.end(0, factory)));

        assertThat(decoded).containsExactly(Arrays.stream(ages).mapToObj(age -> new SourceRead(3, age))
                .toArray(SourceRead[]::new));
        assertThat(decoder.ended()).isTrue();
        buffers.assertAllReleased();
    }

    @Test
    void roundTripsReadRecordsWithAndWithoutTheFinalCountFlag() {
        DataBufferFactory factory = buffers.factory();
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> decoded = new ArrayList<>(decoder.decode(encoder.header(factory)));

        decoded.addAll(decoder.decode(encoder.read(4, 900, factory)));
        decoded.addAll(decoder.decode(encoder.read(new SourceRead(4, 300), factory)));
        decoded.addAll(decoder.decode(encoder.read(new SourceRead(6, 45_000, true), factory)));
        decoded.addAll(decoder.decode(encoder.read(new SourceRead(6, 0, true), factory)));
        decoded.addAll(decoder.decode(encoder.end(0, factory)));

        assertThat(decoded).containsExactly(new SourceRead(4, 900), new SourceRead(4, 300, false),
                new SourceRead(6, 45_000, true), new SourceRead(6, 0, true));
        assertThat(decoded).extracting(record -> ((SourceRead) record).finalCount())
                .containsExactly(false, false, true, true);
        assertThat(decoder.ended()).isTrue();
        buffers.assertAllReleased();
    }

    @Test
    void saturatesASampleAgeTheReadRecordCannotCarry() {
        DataBufferFactory factory = DefaultDataBufferFactory.sharedInstance;

        assertThat(hex(encoder.read(9, 1L << 32, factory)))
                .isEqualTo("0300" + "0000" + "ffffffff" + "0000000000000009");
        assertThat(hex(encoder.read(9, Long.MAX_VALUE, factory)))
                .isEqualTo("0300" + "0000" + "ffffffff" + "0000000000000009");
        assertThat(hex(encoder.read(9, -5, factory))).as("a sample taken after the clock read, by a skewed clock")
                .isEqualTo("0300" + "0000" + "00000000" + "0000000000000009");
    }

    @Test
    void forwardedFrameAcceptsOnlyWhatTheStreamCanCarry() {
        byte[] vnetHeader = new byte[10];
        assertThatIllegalArgumentException().isThrownBy(() -> new ForwardedFrame(-1, false, vnetHeader, new byte[60]))
                .withMessage("sequence -1 is negative");
        assertThatIllegalArgumentException().isThrownBy(() -> new ForwardedFrame(0, false, new byte[11], new byte[60]))
                .withMessage("vnet header of 11 bytes, expected 10");
        assertThatIllegalArgumentException().isThrownBy(() -> new ForwardedFrame(0, false, vnetHeader, new byte[13]))
                .withMessage("frame of 13 bytes, outside [14, 65600]");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> new ForwardedFrame(0, false, vnetHeader, new byte[65_601]));
        assertThat(new ForwardedFrame(3, true, new byte[10], new byte[14]))
                .isEqualTo(new ForwardedFrame(3, true, new byte[10], new byte[14]))
                .hasSameHashCodeAs(new ForwardedFrame(3, true, new byte[10], new byte[14]))
                .isNotEqualTo(new ForwardedFrame(3, false, new byte[10], new byte[14]))
                .isEqualTo(new ForwardedFrame(3, true, false, new byte[10], new byte[14]))
                .isNotEqualTo(new ForwardedFrame(3, true, true, new byte[10], new byte[14]));
    }

    @Test
    void endsOnlyWithTheEndRecord() {
        EncodedStream stream = EncodedStream.of(List.of(frame(0, 60, false), frame(1, 60, false)));
        int endStart = stream.recordStarts().getLast();
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        assertThat(decoder.lastSequence()).isEqualTo(FrameStreamDecoder.NO_SEQUENCE);

        assertThat(decoder.decode(buffers.copyOf(stream.bytes(), 0, endStart))).hasSize(2);
        decoder.finish();
        assertThat(decoder.ended()).isFalse();
        assertThat(decoder.lastSequence()).isEqualTo(1);

        assertThat(decoder.decode(buffers.copyOf(stream.bytes(), endStart, stream.bytes().length - 1))).isEmpty();
        assertThat(decoder.ended()).isFalse();
        assertThat(decoder.decode(buffers.copyOf(stream.bytes(), stream.bytes().length - 1, stream.bytes().length)))
                .isEmpty();
        assertThat(decoder.ended()).isTrue();
        decoder.finish();
        buffers.assertAllReleased();
    }

    @Test
    void finishAcceptsARecordBoundaryButNotAStreamStoppedMidway() {
        EncodedStream stream = EncodedStream.of(List.of(frame(0, 100, false)));

        assertThat(finishAfter(stream, 0)).isNull();
        assertThat(finishAfter(stream, 8)).isNull();
        assertThat(finishAfter(stream, 8 + 16 + 10 + 100)).isNull();
        assertThat(finishAfter(stream, 3)).hasMessage(
                "stream stopped after 3 of the 8 stream header bytes at byte offset 3 of the stream");
        assertThat(finishAfter(stream, 20)).hasMessage(
                "stream stopped inside the record header that starts at byte offset 8 at byte offset 20 of the stream");
        assertThat(finishAfter(stream, 8 + 16 + 10 + 50)).hasMessage("stream stopped inside the FRAME record that "
                + "starts at byte offset 8, after 60 of its 110 body bytes at byte offset 84 of the stream");
        assertThat(finishAfter(stream, 134 + 5)).hasMessage(
                "stream stopped inside the record header that starts at byte offset 134 at byte offset 139 of the "
                        + "stream");
        buffers.assertAllReleased();
    }

    static Stream<Arguments> malformedStreams() {
        // Two frames, numbered 5 and 9: header [0, 8), FRAME [8, 48), FRAME [48, 94), END [94, 110).
        return Stream.of(
                malformed("bad magic", bytes -> bytes[3] = 'X',
                        "bad magic 0x4e504658, expected \"NPFS\"", 0),
                malformed("version 1", bytes -> bytes[4] = 1,
                        "unsupported version 1, this receiver reads version 2", 4),
                malformed("unknown version", bytes -> bytes[4] = 3,
                        "unsupported version 3, this receiver reads version 2", 4),
                malformed("unknown stream flags", bytes -> bytes[5] = (byte) 0x80,
                        "unknown stream flags 0x80", 5),
                malformed("nonzero reserved bytes in the stream header", bytes -> bytes[7] = 1,
                        "nonzero reserved bytes 0x0001 in the stream header", 6),
                malformed("unknown record type", bytes -> bytes[8] = 4,
                        "unknown record type 4", 8),
                malformed("record type 0", bytes -> bytes[48] = 0,
                        "unknown record type 0", 48),
                malformed("unknown FRAME flags", bytes -> bytes[9] = 5,
                        "unknown FRAME flags 0x05", 9),
                malformed("FRAME held by the VMM with no READ before it", bytes -> bytes[9] = 3,
                        heldNotLastRead(5, -1), 16),
                malformed("nonzero reserved bytes in a record", bytes -> bytes[10] = 0x12,
                        "nonzero reserved bytes 0x1200", 10),
                malformed("frame length above the maximum", bytes -> putInt(bytes, 12, 65_601),
                        "frame length 65601 outside [14, 65600]", 12),
                malformed("frame length below an Ethernet header", bytes -> putInt(bytes, 12, 13),
                        "frame length 13 outside [14, 65600]", 12),
                malformed("frame length of 4 GiB", bytes -> putInt(bytes, 12, -1),
                        "frame length 4294967295 outside [14, 65600]", 12),
                malformed("sequence above 2^63-1", bytes -> putLong(bytes, 16, Long.MIN_VALUE),
                        "sequence 9223372036854775808 above 2^63-1", 16),
                malformed("repeated sequence", bytes -> putLong(bytes, 56, 5),
                        "sequence 5 does not follow 5", 56),
                malformed("decreasing sequence", bytes -> putLong(bytes, 56, 4),
                        "sequence 4 does not follow 5", 56),
                malformed("END record with a FRAME type", bytes -> bytes[94] = 1,
                        "frame length 0 outside [14, 65600]", 98),
                malformed("unknown END flags", bytes -> bytes[95] = 1,
                        "unknown END flags 0x01", 95),
                malformed("nonzero reserved bytes in the END record", bytes -> bytes[97] = 1,
                        "nonzero reserved bytes 0x0001", 96),
                malformed("END record with a length", bytes -> putInt(bytes, 98, 14),
                        "END record with frame length 14, expected 0", 98),
                malformed("END record counting the wrong number of frames", bytes -> putLong(bytes, 102, 3),
                        "END record counts 3 frames but the stream carried 2", 102));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedStreams")
    void rejectsMalformedStreamsSayingWhatAndWhere(String problem, Consumer<byte[]> corruption, String message,
            long offset) {
        assertRejected(twoFrameStream(), corruption, message, offset);
    }

    static Stream<Arguments> malformedReadsAndHeldFrames() {
        // FRAME 5 [8, 48), READ 8 aged 1500 µs [48, 64), held FRAME 7 [64, 104), FRAME 9 [104, 144), READ 10
        // [144, 160), END [160, 176).
        return Stream.of(
                malformed("READ with an unknown flag", bytes -> bytes[49] = 0x02,
                        "unknown READ flags 0x02", 49),
                malformed("READ with the top flag bit", bytes -> bytes[49] = (byte) 0x80,
                        "unknown READ flags 0x80", 49),
                malformed("READ flagged FINAL_COUNT and an unknown flag", bytes -> bytes[49] = 0x03,
                        "unknown READ flags 0x03", 49),
                malformed("READ with nonzero reserved bytes", bytes -> bytes[51] = 1,
                        "nonzero reserved bytes 0x0001", 50),
                malformed("READ sequence above 2^63-1", bytes -> putLong(bytes, 56, Long.MIN_VALUE),
                        "sequence 9223372036854775808 above 2^63-1", 56),
                malformed("READ going back", bytes -> putLong(bytes, 152, 7),
                        "READ sequence 7 goes back from 8", 152),
                malformed("READ going back to 0", bytes -> putLong(bytes, 152, 0),
                        "READ sequence 0 goes back from 8", 152),
                malformed("held FRAME below the last one read", bytes -> putLong(bytes, 72, 6),
                        heldNotLastRead(6, 7), 72),
                malformed("held FRAME at the first one unread", bytes -> putLong(bytes, 72, 8),
                        heldNotLastRead(8, 7), 72),
                malformed("held FRAME after a READ counting none read", bytes -> putLong(bytes, 56, 0),
                        heldNotLastRead(7, -1), 72),
                malformed("held flag on a FRAME the VM has not read", bytes -> bytes[105] = 2,
                        heldNotLastRead(9, 7), 112),
                malformed("FRAME at the last one read without the held flag", bytes -> bytes[65] = 0,
                        "sequence 7 does not follow 7", 72),
                malformed("FRAME above the last frame but below the last one read", bytes -> putLong(bytes, 112, 6),
                        "sequence 6 does not follow 7", 112),
                malformed("FRAME above the last frame but at the last one read", bytes -> putLong(bytes, 112, 7),
                        "sequence 7 does not follow 7", 112),
                malformed("END count leaving out the held frame", bytes -> putLong(bytes, 168, 2),
                        "END record counts 2 frames but the stream carried 3", 168),
                malformed("READ turned into an END record, its sample age as a frame length", bytes -> bytes[48] = 2,
                        "END record with frame length 1500, expected 0", 52));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedReadsAndHeldFrames")
    void rejectsMalformedReadRecordsAndHeldFramesSayingWhatAndWhere(String problem, Consumer<byte[]> corruption,
            String message, long offset) {
        EncodedStream stream = readsAndHeldFrameStream();
        assertThat(stream.recordStarts()).containsExactly(8, 48, 64, 104, 144, 160);

        assertRejected(stream, corruption, message, offset);
    }

    static Stream<Arguments> validReadChanges() {
        return Stream.of(
                changed("READ repeating the previous one, with another age", bytes -> putLong(bytes, 152, 8),
                        new SourceRead(8, 0)),
                changed("READ with the largest sample age", bytes -> putInt(bytes, 148, -1),
                        new SourceRead(10, SourceRead.MAX_SAMPLE_AGE_MICROS)),
                changed("READ far ahead of every frame sent", bytes -> putLong(bytes, 152, Long.MAX_VALUE),
                        new SourceRead(Long.MAX_VALUE, 0)),
                changed("READ flagged FINAL_COUNT", bytes -> bytes[145] = 0x01,
                        new SourceRead(10, 0, true)),
                changed("READ flagged FINAL_COUNT repeating the previous count", bytes -> {
                    bytes[145] = 0x01;
                    putLong(bytes, 152, 8);
                }, new SourceRead(8, 0, true)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("validReadChanges")
    void acceptsReadRecordsThatRepeatTheCountCarryAnyAgeOrAreFinal(String change, Consumer<byte[]> edit,
            SourceRead lastRead) {
        EncodedStream stream = readsAndHeldFrameStream();
        byte[] bytes = stream.bytes().clone();
        edit.accept(bytes);
        List<FrameStreamRecord> expected = new ArrayList<>(stream.records());
        expected.set(expected.size() - 1, lastRead);
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        assertThat(decoder.decode(buffers.copyOf(bytes))).isEqualTo(expected);
        assertThat(decoder.ended()).isTrue();
        buffers.assertAllReleased();
    }

    private static EncodedStream readsAndHeldFrameStream() {
        return EncodedStream.of(List.of(frame(5, 14, false), new SourceRead(8, 1_500), heldByVmm(frame(7, 14, true)),
                frame(9, 14, false), new SourceRead(10, 0)));
    }

    private static String heldNotLastRead(long sequence, long lastRead) {
        return "frame " + sequence + " marked held by the VMM is not the last one read (the latest READ has the VM"
                + " read up to " + lastRead + ")";
    }

    private void assertRejected(EncodedStream stream, Consumer<byte[]> corruption, String message, long offset) {
        byte[] bytes = stream.bytes().clone();
        corruption.accept(bytes);

        for (int chunkLength : new int[] {bytes.length, 1, 7}) {
            FrameStreamDecoder decoder = new FrameStreamDecoder();
            assertThatThrownBy(() -> decodeInChunks(decoder, bytes, chunkLength))
                    .isInstanceOf(MalformedFrameStreamException.class)
                    .hasMessage(message + " at byte offset " + offset + " of the stream")
                    .satisfies(e -> assertThat(((MalformedFrameStreamException) e).streamOffset()).isEqualTo(offset));
        }
        buffers.assertAllReleased();
    }

    @Test
    void rejectsDataAfterTheEndRecord() {
        byte[] stream = twoFrameStream().bytes();
        byte[] withTrailer = Arrays.copyOf(stream, stream.length + 1);
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        assertThatThrownBy(() -> decoder.decode(buffers.copyOf(withTrailer)))
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessage("data after the END record at byte offset 110 of the stream");
        buffers.assertAllReleased();
    }

    @Test
    void rejectsAnOversizedRecordFromItsHeaderAlone() {
        byte[] stream = twoFrameStream().bytes().clone();
        putInt(stream, 12, Integer.MAX_VALUE);
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        decoder.decode(buffers.copyOf(stream, 0, 8));

        assertThatThrownBy(() -> decoder.decode(buffers.copyOf(stream, 8, 8 + 16)))
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessage("frame length 2147483647 outside [14, 65600] at byte offset 12 of the stream");
        buffers.assertAllReleased();
    }

    @Test
    void deliversTheFramesBeforeAMalformedRecordOfTheSameChunk() {
        byte[] stream = twoFrameStream().bytes().clone();
        putLong(stream, 56, 2);
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> delivered = new ArrayList<>();

        assertThatThrownBy(() -> decoder.decode(buffers.copyOf(stream), delivered::add))
                .isInstanceOf(MalformedFrameStreamException.class);
        assertThat(delivered).containsExactly(twoFrameStream().frames().getFirst());
        assertThat(decoder.lastSequence()).isEqualTo(5);
        buffers.assertAllReleased();
    }

    @Test
    void keepsRejectingAndReleasingAfterAnError() {
        byte[] stream = twoFrameStream().bytes().clone();
        stream[0] = 0;
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        assertThatThrownBy(() -> decoder.decode(buffers.copyOf(stream, 0, 20)))
                .isInstanceOf(MalformedFrameStreamException.class);

        assertThatThrownBy(() -> decoder.decode(buffers.copyOf(stream, 20, 40)))
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessage("stream already rejected at byte offset 0 of the stream")
                .cause().hasMessageStartingWith("bad magic");
        assertThatThrownBy(decoder::finish).isInstanceOf(MalformedFrameStreamException.class);
        buffers.assertAllReleased();
    }

    @Test
    void decodesABodyAndCompletesAfterItsEndRecord() {
        EncodedStream stream = EncodedStream.of(IntStream.range(0, 50).mapToObj(i -> frame(i, 100 + i, false)).toList());
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        List<FrameStreamRecord> decoded = decoder.decode(body(stream.bytes(), 33)).collectList().block();

        assertThat(decoded).isEqualTo(stream.frames());
        assertThat(decoder.ended()).isTrue();
        assertThat(decoder.lastSequence()).isEqualTo(49);
        buffers.assertAllReleased();
    }

    @Test
    void failsAsCutWhenTheBodyCompletesWithoutAnEndRecord() {
        EncodedStream stream = EncodedStream.of(List.of(frame(0, 60, false), frame(1, 60, false)), false);
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> received = new ArrayList<>();

        assertThatThrownBy(() -> decoder.decode(body(stream.bytes(), 5)).doOnNext(received::add).blockLast())
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessage("stream closed before its END record (cut connection?) at byte offset 180 of the stream");
        assertThat(received).isEqualTo(stream.frames());
        assertThat(decoder.lastSequence()).isEqualTo(1);
        buffers.assertAllReleased();
    }

    @Test
    void failsWhenTheBodyCompletesInsideARecord() {
        byte[] stream = Arrays.copyOf(twoFrameStream().bytes(), 60);
        FrameStreamDecoder decoder = new FrameStreamDecoder();

        assertThatThrownBy(() -> decoder.decode(body(stream, 16)).blockLast())
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessageStartingWith("stream stopped inside the record header that starts at byte offset 48");
        buffers.assertAllReleased();
    }

    @Test
    void emitsTheFramesBeforeAMalformedRecordThenFails() {
        byte[] stream = twoFrameStream().bytes().clone();
        putLong(stream, 56, 5);
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        List<FrameStreamRecord> received = new ArrayList<>();

        assertThatThrownBy(() -> decoder.decode(body(stream, stream.length)).doOnNext(received::add).blockLast())
                .isInstanceOf(MalformedFrameStreamException.class)
                .hasMessage("sequence 5 does not follow 5 at byte offset 56 of the stream");
        assertThat(received).containsExactly(twoFrameStream().frames().getFirst());
        buffers.assertAllReleased();
    }

    @Test
    void releasesQueuedChunksWhenTheReceiverCancels() {
        EncodedStream stream = EncodedStream.of(IntStream.range(0, 20).mapToObj(i -> frame(i, 200, false)).toList());

        List<FrameStreamRecord> firstTwo = new FrameStreamDecoder().decode(body(stream.bytes(), 3)).take(2)
                .collectList().block();

        assertThat(firstTwo).isEqualTo(stream.frames().subList(0, 2));
        assertThat(buffers.handedOut()).isLessThan(stream.bytes().length / 3);
        buffers.assertAllReleased();
    }

    @Test
    void pullsChunksOnlyAsFramesAreRequested() {
        EncodedStream stream = EncodedStream.of(IntStream.range(0, 1_000).mapToObj(i -> frame(i, 100, false)).toList());
        AtomicInteger requestedFrames = new AtomicInteger();
        List<FrameStreamRecord> received = new ArrayList<>();
        BaseSubscriber<FrameStreamRecord> oneAtATime = new BaseSubscriber<>() {
            @Override
            protected void hookOnSubscribe(Subscription subscription) {
                requestedFrames.incrementAndGet();
                request(1);
            }

            @Override
            protected void hookOnNext(FrameStreamRecord frame) {
                received.add(frame);
                if (received.size() < 3) {
                    requestedFrames.incrementAndGet();
                    request(1);
                }
            }
        };

        new FrameStreamDecoder().decode(body(stream.bytes(), 126)).subscribe(oneAtATime);

        assertThat(received).isEqualTo(stream.frames().subList(0, 3));
        assertThat(buffers.handedOut()).as("chunks pulled for %d frames", requestedFrames.get())
                .isLessThanOrEqualTo(64);
        oneAtATime.cancel();
        buffers.assertAllReleased();
    }

    @Test
    void decodesASingleBody() {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        decoder.decode(body(twoFrameStream().bytes(), 10)).blockLast();

        assertThatThrownBy(() -> decoder.decode(body(twoFrameStream().bytes(), 10)).blockLast())
                .isInstanceOf(IllegalStateException.class);
        buffers.assertAllReleased();
    }

    private Flux<DataBuffer> body(byte[] stream, int chunkLength) {
        return Flux.range(0, (stream.length + chunkLength - 1) / chunkLength)
                .map(i -> buffers.copyOf(stream, i * chunkLength, Math.min(stream.length, (i + 1) * chunkLength)));
    }

    private void decodeInChunks(FrameStreamDecoder decoder, byte[] stream, int chunkLength) {
        for (int from = 0; from < stream.length; from += chunkLength) {
            decoder.decode(buffers.copyOf(stream, from, Math.min(stream.length, from + chunkLength)));
        }
        decoder.finish();
    }

    private MalformedFrameStreamException finishAfter(EncodedStream stream, int length) {
        FrameStreamDecoder decoder = new FrameStreamDecoder();
        decoder.decode(buffers.copyOf(stream.bytes(), 0, length));
        try {
            decoder.finish();
            return null;
        } catch (MalformedFrameStreamException e) {
            return e;
        }
    }

    private static EncodedStream twoFrameStream() {
        return EncodedStream.of(List.of(frame(5, 14, true), frame(9, 20, false)));
    }

    private static Arguments changed(String change, Consumer<byte[]> edit, SourceRead lastRead) {
        return Arguments.of(change, edit, lastRead);
    }

    private static Arguments malformed(String problem, Consumer<byte[]> corruption, String message, long offset) {
        return Arguments.of(problem, corruption, message, offset);
    }

    private static void putInt(byte[] bytes, int offset, int value) {
        ByteBuffer.wrap(bytes).putInt(offset, value);
    }

    private static void putLong(byte[] bytes, int offset, long value) {
        ByteBuffer.wrap(bytes).putLong(offset, value);
    }

    private static ForwardedFrame heldByVmm(ForwardedFrame frame) {
        return new ForwardedFrame(frame.sequence(), frame.droppedByTap(), true, frame.vnetHeader(), frame.frame());
    }

    private static ForwardedFrame frame(long sequence, int length, boolean droppedByTap) {
        byte[] vnetHeader = new byte[10];
        vnetHeader[0] = (byte) sequence;
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (sequence * 31 + i);
        }
        return new ForwardedFrame(sequence, droppedByTap, vnetHeader, bytes);
    }

    private static String hex(DataBuffer buffer) {
        return HEX.formatHex(EncodedStream.bytesOf(buffer));
    }

    /** The capture package offers no way to make a {@link KeptFrame} outside its buffer, so this reaches in. */
    private static KeptFrame keptFrame(long sequence, boolean droppedByTap, MemorySegment vnetHeader,
            MemorySegment frame) throws ReflectiveOperationException {
        Constructor<KeptFrame> constructor = KeptFrame.class.getDeclaredConstructor();
        constructor.setAccessible(true);
        KeptFrame kept = constructor.newInstance();
        set(kept, "sequence", sequence);
        set(kept, "droppedByTap", droppedByTap);
        set(kept, "vnetHeader", vnetHeader);
        set(kept, "frame", frame);
        return kept;
    }

    private static void set(KeptFrame kept, String name, Object value) throws ReflectiveOperationException {
        Field field = KeptFrame.class.getDeclaredField(name);
        field.setAccessible(true);
        field.set(kept, value);
    }
}
