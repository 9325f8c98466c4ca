package io.netpass.agent.stream;

import static io.netpass.agent.stream.FrameStreamFormat.DROPPED_BY_TAP;
import static io.netpass.agent.stream.FrameStreamFormat.END;
import static io.netpass.agent.stream.FrameStreamFormat.FLAGS_OFFSET;
import static io.netpass.agent.stream.FrameStreamFormat.FINAL_COUNT;
import static io.netpass.agent.stream.FrameStreamFormat.FRAME;
import static io.netpass.agent.stream.FrameStreamFormat.HELD_BY_VMM;
import static io.netpass.agent.stream.FrameStreamFormat.LENGTH_OFFSET;
import static io.netpass.agent.stream.FrameStreamFormat.MAGIC;
import static io.netpass.agent.stream.FrameStreamFormat.READ;
import static io.netpass.agent.stream.FrameStreamFormat.RECORD_HEADER_SIZE;
import static io.netpass.agent.stream.FrameStreamFormat.RESERVED_OFFSET;
import static io.netpass.agent.stream.FrameStreamFormat.SEQUENCE_OFFSET;
import static io.netpass.agent.stream.FrameStreamFormat.STREAM_HEADER_SIZE;
import static io.netpass.agent.stream.FrameStreamFormat.VERSION;
import static io.netpass.agent.stream.ForwardedFrame.MAX_FRAME_LENGTH;
import static io.netpass.agent.stream.ForwardedFrame.MIN_FRAME_LENGTH;
import static io.netpass.agent.stream.ForwardedFrame.VNET_HEADER_SIZE;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import org.reactivestreams.Publisher;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Reads one frame stream, chunk by chunk, whatever the chunk boundaries: a record may be split over any number of
 * chunks and a chunk may hold any number of records.
 *
 * <p>Memory stays bounded by one record: a FRAME's declared length is checked before anything is allocated for it.
 * Every chunk given to the decoder is released exactly once, also when it is rejected. The first error is final:
 * the decoder then rejects every further chunk.
 *
 * <p>Not thread-safe; one decoder per stream.
 */
public final class FrameStreamDecoder {

    /** {@link #lastSequence()} before any frame was decoded. */
    public static final long NO_SEQUENCE = -1;

    private static final byte[] NO_BYTES = {};
    private static final HexFormat HEX = HexFormat.of();

    private enum Stage { STREAM_HEADER, RECORD_HEADER, FRAME_BODY, ENDED }

    private final byte[] header = new byte[RECORD_HEADER_SIZE];
    private final ByteBuffer headerFields = ByteBuffer.wrap(header);
    private Stage stage = Stage.STREAM_HEADER;
    private int headerFilled;
    private long streamOffset;
    private long recordOffset;

    private long frameSequence;
    private boolean frameDroppedByTap;
    private boolean frameHeldByVmm;
    private byte[] vnetHeader = NO_BYTES;
    private byte[] frame = NO_BYTES;
    private int bodyFilled;

    private long lastSequence = NO_SEQUENCE;
    /** The latest READ's sequence: the first frame the source VM had not read; 0 before any READ. */
    private long unreadFrom;
    private long frameCount;
    private @Nullable MalformedFrameStreamException failure;
    private boolean subscribed;

    /** Decodes one chunk and releases it; returns the records it completed, in order. */
    public List<FrameStreamRecord> decode(DataBuffer chunk) {
        List<FrameStreamRecord> records = new ArrayList<>();
        decode(chunk, records::add);
        return records;
    }

    /**
     * Decodes one chunk and releases it, giving each completed record to {@code records} as soon as its last byte
     * is read, so the records before a malformed one are delivered before the exception is thrown. An exception
     * thrown by {@code records} propagates and leaves the rest of the chunk unread, which ends the stream too.
     */
    public void decode(DataBuffer chunk, Consumer<? super FrameStreamRecord> records) {
        try {
            rejectIfFailed();
            while (chunk.readableByteCount() > 0) {
                switch (stage) {
                    case STREAM_HEADER -> readStreamHeader(chunk);
                    case RECORD_HEADER -> readRecordHeader(chunk, records);
                    case FRAME_BODY -> readFrameBody(chunk, records);
                    case ENDED -> throw malformed("data after the END record", streamOffset);
                }
            }
        } finally {
            DataBufferUtils.release(chunk);
        }
    }

    /**
     * Decodes a whole stream body, keeping its backpressure. The returned flux completes after the END record, and
     * fails with a {@link MalformedFrameStreamException} if the body is malformed or completes without an END
     * record (a cut connection); the frames before the failure are emitted first. Chunks still queued when the flux
     * is cancelled or fails are released.
     *
     * <p>The decoder's {@link #lastSequence()} then tells where a reconnecting sender has to resume. It can be
     * subscribed to once.
     */
    public Flux<FrameStreamRecord> decode(Publisher<? extends DataBuffer> body) {
        return Flux.defer(() -> {
            if (subscribed) {
                return Flux.error(new IllegalStateException("a FrameStreamDecoder decodes a single stream"));
            }
            subscribed = true;
            return Flux.<DataBuffer>from(body)
                    .concatMap(this::decodedRecords)
                    .concatWith(Mono.fromRunnable(this::requireEnd))
                    .doOnDiscard(DataBuffer.class, DataBufferUtils::release);
        });
    }

    /**
     * Checks that the stream did not stop in the middle of its header or of a record.
     *
     * @throws MalformedFrameStreamException if it did, or if the stream was already rejected
     */
    public void finish() {
        rejectIfFailed();
        switch (stage) {
            case STREAM_HEADER -> {
                if (headerFilled > 0) {
                    throw malformed("stream stopped after " + headerFilled + " of the " + STREAM_HEADER_SIZE
                            + " stream header bytes", streamOffset);
                }
            }
            case RECORD_HEADER -> {
                if (headerFilled > 0) {
                    throw malformed("stream stopped inside the record header that starts at byte offset "
                            + recordOffset, streamOffset);
                }
            }
            case FRAME_BODY -> throw malformed("stream stopped inside the FRAME record that starts at byte offset "
                    + recordOffset + ", after " + bodyFilled + " of its " + (VNET_HEADER_SIZE + frame.length)
                    + " body bytes", streamOffset);
            case ENDED -> {
            }
        }
    }

    /** An END record arrived: the sender finished on purpose. */
    public boolean ended() {
        return stage == Stage.ENDED;
    }

    /**
     * Sequence of the last frame decoded, not counting one {@link ForwardedFrame#heldByVmm() held by the VMM}, or
     * {@link #NO_SEQUENCE}.
     */
    public long lastSequence() {
        return lastSequence;
    }

    private Flux<FrameStreamRecord> decodedRecords(DataBuffer chunk) {
        List<FrameStreamRecord> records = new ArrayList<>();
        try {
            decode(chunk, records::add);
        } catch (MalformedFrameStreamException e) {
            return Flux.fromIterable(records).concatWith(Mono.error(e));
        }
        return Flux.fromIterable(records);
    }

    private void requireEnd() {
        finish();
        if (stage != Stage.ENDED) {
            throw malformed("stream closed before its END record (cut connection?)", streamOffset);
        }
    }

    private void readStreamHeader(DataBuffer chunk) {
        headerFilled += take(chunk, header, headerFilled, STREAM_HEADER_SIZE - headerFilled);
        if (headerFilled < STREAM_HEADER_SIZE) {
            return;
        }
        headerFilled = 0;
        for (int i = 0; i < MAGIC.length; i++) {
            if (header[i] != MAGIC[i]) {
                throw malformed("bad magic 0x" + HEX.formatHex(header, 0, MAGIC.length) + ", expected \""
                        + new String(MAGIC, StandardCharsets.US_ASCII) + "\"", 0);
            }
        }
        int version = Byte.toUnsignedInt(header[MAGIC.length]);
        if (version != VERSION) {
            throw malformed("unsupported version " + version + ", this receiver reads version " + VERSION,
                    MAGIC.length);
        }
        int flags = Byte.toUnsignedInt(header[MAGIC.length + 1]);
        if (flags != 0) {
            throw malformed("unknown stream flags 0x" + HEX.toHexDigits((byte) flags), MAGIC.length + 1);
        }
        int reserved = Short.toUnsignedInt(headerFields.getShort(MAGIC.length + 2));
        if (reserved != 0) {
            throw malformed("nonzero reserved bytes 0x" + HEX.toHexDigits((short) reserved) + " in the stream header",
                    MAGIC.length + 2);
        }
        stage = Stage.RECORD_HEADER;
    }

    private void readRecordHeader(DataBuffer chunk, Consumer<? super FrameStreamRecord> records) {
        if (headerFilled == 0) {
            recordOffset = streamOffset;
        }
        headerFilled += take(chunk, header, headerFilled, RECORD_HEADER_SIZE - headerFilled);
        if (headerFilled < RECORD_HEADER_SIZE) {
            return;
        }
        headerFilled = 0;
        int type = Byte.toUnsignedInt(header[0]);
        int flags = Byte.toUnsignedInt(header[FLAGS_OFFSET]);
        int reserved = Short.toUnsignedInt(headerFields.getShort(RESERVED_OFFSET));
        long length = Integer.toUnsignedLong(headerFields.getInt(LENGTH_OFFSET));
        long sequenceOrCount = headerFields.getLong(SEQUENCE_OFFSET);
        switch (type) {
            case FRAME -> startFrame(flags, reserved, length, sequenceOrCount);
            case END -> end(flags, reserved, length, sequenceOrCount);
            case READ -> records.accept(read(flags, reserved, length, sequenceOrCount));
            default -> throw malformed("unknown record type " + type, recordOffset);
        }
    }

    private void startFrame(int flags, int reserved, long length, long sequence) {
        if ((flags & ~(DROPPED_BY_TAP | HELD_BY_VMM)) != 0) {
            throw malformed("unknown FRAME flags 0x" + HEX.toHexDigits((byte) flags), recordOffset + FLAGS_OFFSET);
        }
        rejectReserved(reserved);
        if (length < MIN_FRAME_LENGTH || length > MAX_FRAME_LENGTH) {
            throw malformed("frame length " + length + " outside [" + MIN_FRAME_LENGTH + ", " + MAX_FRAME_LENGTH
                    + "]", recordOffset + LENGTH_OFFSET);
        }
        if (sequence < 0) {
            throw malformed("sequence " + Long.toUnsignedString(sequence) + " above 2^63-1",
                    recordOffset + SEQUENCE_OFFSET);
        }
        boolean heldByVmm = (flags & HELD_BY_VMM) != 0;
        if (heldByVmm && sequence != unreadFrom - 1) {
            throw malformed("frame " + sequence + " marked held by the VMM is not the last one read (the latest READ"
                    + " has the VM read up to " + (unreadFrom - 1) + ")", recordOffset + SEQUENCE_OFFSET);
        }
        if (!heldByVmm && sequence <= Math.max(lastSequence, unreadFrom - 1)) {
            throw malformed("sequence " + sequence + " does not follow " + Math.max(lastSequence, unreadFrom - 1),
                    recordOffset + SEQUENCE_OFFSET);
        }
        frameSequence = sequence;
        frameDroppedByTap = (flags & DROPPED_BY_TAP) != 0;
        frameHeldByVmm = heldByVmm;
        vnetHeader = new byte[VNET_HEADER_SIZE];
        frame = new byte[(int) length];
        bodyFilled = 0;
        stage = Stage.FRAME_BODY;
    }

    private void end(int flags, int reserved, long length, long count) {
        if (flags != 0) {
            throw malformed("unknown END flags 0x" + HEX.toHexDigits((byte) flags), recordOffset + FLAGS_OFFSET);
        }
        rejectReserved(reserved);
        if (length != 0) {
            throw malformed("END record with frame length " + length + ", expected 0",
                    recordOffset + LENGTH_OFFSET);
        }
        if (count != frameCount) {
            throw malformed("END record counts " + Long.toUnsignedString(count) + " frames but the stream carried "
                    + frameCount, recordOffset + SEQUENCE_OFFSET);
        }
        stage = Stage.ENDED;
    }

    private SourceRead read(int flags, int reserved, long sampleAgeMicros, long sequence) {
        if ((flags & ~FINAL_COUNT) != 0) {
            throw malformed("unknown READ flags 0x" + HEX.toHexDigits((byte) flags), recordOffset + FLAGS_OFFSET);
        }
        rejectReserved(reserved);
        if (sequence < 0) {
            throw malformed("sequence " + Long.toUnsignedString(sequence) + " above 2^63-1",
                    recordOffset + SEQUENCE_OFFSET);
        }
        if (sequence < unreadFrom) {
            throw malformed("READ sequence " + sequence + " goes back from " + unreadFrom,
                    recordOffset + SEQUENCE_OFFSET);
        }
        unreadFrom = sequence;
        return new SourceRead(sequence, sampleAgeMicros, (flags & FINAL_COUNT) != 0);
    }

    private void rejectReserved(int reserved) {
        if (reserved != 0) {
            throw malformed("nonzero reserved bytes 0x" + HEX.toHexDigits((short) reserved),
                    recordOffset + RESERVED_OFFSET);
        }
    }

    private void readFrameBody(DataBuffer chunk, Consumer<? super FrameStreamRecord> records) {
        if (bodyFilled < VNET_HEADER_SIZE) {
            bodyFilled += take(chunk, vnetHeader, bodyFilled, VNET_HEADER_SIZE - bodyFilled);
            if (bodyFilled < VNET_HEADER_SIZE) {
                return;
            }
        }
        int frameFilled = bodyFilled - VNET_HEADER_SIZE;
        bodyFilled += take(chunk, frame, frameFilled, frame.length - frameFilled);
        if (bodyFilled < VNET_HEADER_SIZE + frame.length) {
            return;
        }
        ForwardedFrame decoded = new ForwardedFrame(frameSequence, frameDroppedByTap, frameHeldByVmm, vnetHeader,
                frame);
        vnetHeader = NO_BYTES;
        frame = NO_BYTES;
        if (!frameHeldByVmm) {
            lastSequence = frameSequence;
        }
        frameCount++;
        stage = Stage.RECORD_HEADER;
        records.accept(decoded);
    }

    private int take(DataBuffer chunk, byte[] into, int at, int wanted) {
        int taken = Math.min(wanted, chunk.readableByteCount());
        chunk.read(into, at, taken);
        streamOffset += taken;
        return taken;
    }

    private void rejectIfFailed() {
        MalformedFrameStreamException rejected = failure;
        if (rejected != null) {
            throw new MalformedFrameStreamException("stream already rejected", rejected.streamOffset(), rejected);
        }
    }

    private MalformedFrameStreamException malformed(String problem, long offset) {
        MalformedFrameStreamException e = new MalformedFrameStreamException(problem, offset);
        failure = e;
        return e;
    }
}
