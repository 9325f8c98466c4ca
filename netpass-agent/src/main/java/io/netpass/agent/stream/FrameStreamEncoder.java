package io.netpass.agent.stream;

import static io.netpass.agent.stream.FrameStreamFormat.DROPPED_BY_TAP;
import static io.netpass.agent.stream.FrameStreamFormat.END;
import static io.netpass.agent.stream.FrameStreamFormat.FINAL_COUNT;
import static io.netpass.agent.stream.FrameStreamFormat.FRAME;
import static io.netpass.agent.stream.FrameStreamFormat.HELD_BY_VMM;
import static io.netpass.agent.stream.FrameStreamFormat.MAGIC;
import static io.netpass.agent.stream.FrameStreamFormat.READ;
import static io.netpass.agent.stream.FrameStreamFormat.RECORD_HEADER_SIZE;
import static io.netpass.agent.stream.FrameStreamFormat.STREAM_HEADER_SIZE;
import static io.netpass.agent.stream.FrameStreamFormat.VERSION;
import static io.netpass.agent.stream.ForwardedFrame.MAX_FRAME_LENGTH;
import static io.netpass.agent.stream.ForwardedFrame.MIN_FRAME_LENGTH;
import static io.netpass.agent.stream.ForwardedFrame.VNET_HEADER_SIZE;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DataBufferUtils;

import io.netpass.agent.capture.KeptFrame;

/**
 * Writes a frame stream: {@link #header} once, then one {@link #encode record} per frame in increasing sequence
 * order with {@link #read READ} records between them as the source VM reads frames, then {@link #end} when the
 * sender has nothing more to send. Each call returns a buffer of its own, which
 * the caller hands to the HTTP body (and so releases).
 *
 * <p>Stateless and thread-safe, so one instance can serve every stream: the caller keeps the order and counts the
 * frames it sent.
 */
public final class FrameStreamEncoder {

    /** The stream header: magic, version, flags and reserved bytes. */
    public DataBuffer header(DataBufferFactory factory) {
        ByteBuffer header = ByteBuffer.allocate(STREAM_HEADER_SIZE)
                .put(MAGIC)
                .put((byte) VERSION)
                .put((byte) 0)
                .putShort((short) 0)
                .flip();
        return factory.allocateBuffer(STREAM_HEADER_SIZE).write(header);
    }

    /**
     * A FRAME record for a kept frame, copied out of the capture buffer now, since the view is only valid during
     * the reader call.
     *
     * @throws IllegalArgumentException if the frame is shorter than {@value ForwardedFrame#MIN_FRAME_LENGTH} or
     *     longer than {@value ForwardedFrame#MAX_FRAME_LENGTH} bytes, which the receiver would reject
     */
    public DataBuffer encode(KeptFrame frame, DataBufferFactory factory) {
        return frameRecord(frame.sequence(), frame.droppedByTap(), false, frame.vnetHeader(), frame.frame(), factory);
    }

    /**
     * A FRAME record for the last frame the source VM read, which its VMM may hold undelivered; it follows the READ
     * record whose {@code unreadFrom} is its sequence + 1.
     */
    public DataBuffer encodeHeldByVmm(KeptFrame frame, DataBufferFactory factory) {
        return frameRecord(frame.sequence(), frame.droppedByTap(), true, frame.vnetHeader(), frame.frame(), factory);
    }

    /** A FRAME record for a frame already out of the capture buffer. */
    public DataBuffer encode(ForwardedFrame frame, DataBufferFactory factory) {
        return frameRecord(frame.sequence(), frame.droppedByTap(), frame.heldByVmm(),
                MemorySegment.ofArray(frame.vnetHeader()), MemorySegment.ofArray(frame.frame()), factory);
    }

    /**
     * A READ record: the source VM has read every frame numbered below {@code unreadFrom}, as of a counter sample
     * taken {@code sampleAgeMicros} ago (saturating at {@link SourceRead#MAX_SAMPLE_AGE_MICROS}).
     */
    public DataBuffer read(long unreadFrom, long sampleAgeMicros, DataBufferFactory factory) {
        return read(new SourceRead(unreadFrom, Math.clamp(sampleAgeMicros, 0, SourceRead.MAX_SAMPLE_AGE_MICROS)),
                factory);
    }

    /** A READ record, flagged FINAL_COUNT when {@link SourceRead#finalCount()}. */
    public DataBuffer read(SourceRead read, DataBufferFactory factory) {
        return factory.allocateBuffer(RECORD_HEADER_SIZE).write(recordHeader(READ,
                read.finalCount() ? FINAL_COUNT : 0, (int) read.sampleAgeMicros(), read.unreadFrom()));
    }

    /**
     * The END record: the sender finished on purpose after {@code frameCount} FRAME records in this stream. A body
     * that stops without it was cut.
     */
    public DataBuffer end(long frameCount, DataBufferFactory factory) {
        if (frameCount < 0) {
            throw new IllegalArgumentException("frame count " + frameCount + " is negative");
        }
        return factory.allocateBuffer(RECORD_HEADER_SIZE).write(recordHeader(END, 0, 0, frameCount));
    }

    private static DataBuffer frameRecord(long sequence, boolean droppedByTap, boolean heldByVmm,
            MemorySegment vnetHeader, MemorySegment frame, DataBufferFactory factory) {
        if (sequence < 0) {
            throw new IllegalArgumentException("sequence " + sequence + " is negative");
        }
        if (vnetHeader.byteSize() != VNET_HEADER_SIZE) {
            throw new IllegalArgumentException(
                    "vnet header of " + vnetHeader.byteSize() + " bytes, expected " + VNET_HEADER_SIZE);
        }
        long frameLength = frame.byteSize();
        if (frameLength < MIN_FRAME_LENGTH || frameLength > MAX_FRAME_LENGTH) {
            throw new IllegalArgumentException("frame " + sequence + " of " + frameLength + " bytes, outside ["
                    + MIN_FRAME_LENGTH + ", " + MAX_FRAME_LENGTH + "]");
        }
        int flags = (droppedByTap ? DROPPED_BY_TAP : 0) | (heldByVmm ? HELD_BY_VMM : 0);
        ByteBuffer header = recordHeader(FRAME, flags, (int) frameLength, sequence);
        DataBuffer record = factory.allocateBuffer(RECORD_HEADER_SIZE + VNET_HEADER_SIZE + (int) frameLength);
        try {
            return record.write(header, vnetHeader.asByteBuffer(), frame.asByteBuffer());
        } catch (RuntimeException e) {
            DataBufferUtils.release(record);
            throw e;
        }
    }

    private static ByteBuffer recordHeader(int type, int flags, int frameLength, long sequenceOrCount) {
        return ByteBuffer.allocate(RECORD_HEADER_SIZE)
                .put((byte) type)
                .put((byte) flags)
                .putShort((short) 0)
                .putInt(frameLength)
                .putLong(sequenceOrCount)
                .flip();
    }
}
