package io.netpass.agent.stream;

import java.nio.charset.StandardCharsets;

/** Constants of the wire format, version 2; {@code docs/frame-stream.md} is their specification. */
final class FrameStreamFormat {

    static final byte[] MAGIC = "NPFS".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 2;
    static final int STREAM_HEADER_SIZE = 8;

    /** u8 type, u8 flags, u16 reserved, u32 frame length, u64 sequence (FRAME, READ) or frame count (END). */
    static final int RECORD_HEADER_SIZE = 16;
    static final int FLAGS_OFFSET = 1;
    static final int RESERVED_OFFSET = 2;
    static final int LENGTH_OFFSET = 4;
    static final int SEQUENCE_OFFSET = 8;

    static final int FRAME = 1;
    static final int END = 2;
    static final int READ = 3;
    static final int DROPPED_BY_TAP = 0x01;
    static final int HELD_BY_VMM = 0x02;
    /** READ flag: counted after the source learned that the VM runs elsewhere, so no read can follow. */
    static final int FINAL_COUNT = 0x01;

    private FrameStreamFormat() {
    }
}
