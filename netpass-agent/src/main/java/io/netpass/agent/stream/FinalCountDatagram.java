package io.netpass.agent.stream;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import org.jspecify.annotations.Nullable;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;

/**
 * The final-count datagram: the source's final count of its VM's reads (a READ record flagged FINAL_COUNT) and the
 * frame its VMM may hold, sent over UDP besides the frame stream, so that it does not queue behind the frames on
 * the stream (docs/frame-stream.md, "The final-count datagram").
 *
 * <p>Layout: magic {@code NPFC}, version (1), migration id length, migration id (ASCII), a 12-byte nonce, then a
 * frame stream (its header, the READ record, optionally the FRAME record flagged HELD_BY_VMM) sealed with AES-256-GCM
 * under the key the destination gave for this migration; the bytes before the ciphertext are its additional data.
 * A datagram that is not exactly that is refused with a {@link MalformedFinalCountDatagramException}.
 */
public final class FinalCountDatagram {

    /** The size of the key the destination hands the source for a migration. */
    public static final int KEY_BYTES = 32;
    /** The largest UDP payload over IPv4; a datagram that would be larger is not sent (the stream carries the count). */
    public static final int MAX_DATAGRAM_BYTES = 65_507;

    private static final byte[] MAGIC = "NPFC".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final String TRANSFORMATION = "AES/GCM/NoPadding";
    private static final int MAX_MIGRATION_ID_BYTES = 64;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final DataBufferFactory HEAP = DefaultDataBufferFactory.sharedInstance;
    private static final FrameStreamEncoder ENCODER = new FrameStreamEncoder();

    private FinalCountDatagram() {
    }

    /** A new random key for one migration. */
    public static byte[] newKey() {
        byte[] key = new byte[KEY_BYTES];
        RANDOM.nextBytes(key);
        return key;
    }

    /**
     * Prepares the sealing of one datagram for {@code migrationId} under {@code key}: the cipher set up, the nonce
     * drawn, so that sealing at the switchover costs only the encryption.
     */
    public static Sealer sealer(String migrationId, byte[] key) {
        byte[] id = migrationId(migrationId);
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        byte[] header = ByteBuffer.allocate(headerBytes(id.length))
                .put(MAGIC).put((byte) VERSION).put((byte) id.length).put(id).put(nonce).array();
        try {
            Cipher cipher = Cipher.getInstance(TRANSFORMATION);
            cipher.init(Cipher.ENCRYPT_MODE, keySpec(key), new GCMParameterSpec(TAG_BITS, nonce));
            return new Sealer(header, cipher);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available", e);
        }
    }

    /** Seals one datagram; its nonce is used once, so a sealer is too. Not thread-safe. */
    public static final class Sealer {

        private final byte[] header;
        private final Cipher cipher;
        private boolean used;

        private Sealer(byte[] header, Cipher cipher) {
            this.header = header;
            this.cipher = cipher;
        }

        /**
         * Seals {@code finalCount} and the held frame's record, if any.
         *
         * @return the datagram, or null if it would exceed {@link #MAX_DATAGRAM_BYTES}
         * @throws IllegalStateException if this sealer was used already
         */
        public byte @Nullable [] seal(SourceRead finalCount, @Nullable DataBuffer heldFrameRecord) {
            if (!finalCount.finalCount()) {
                throw new IllegalArgumentException("a final-count datagram carries a final count");
            }
            if (used) {
                throw new IllegalStateException("a final-count sealer seals one datagram");
            }
            used = true;
            List<DataBuffer> records = new ArrayList<>(3);
            records.add(ENCODER.header(HEAP));
            records.add(ENCODER.read(finalCount, HEAP));
            if (heldFrameRecord != null) {
                records.add(heldFrameRecord);
            }
            DataBuffer joined = HEAP.join(records);
            byte[] plaintext = new byte[joined.readableByteCount()];
            joined.read(plaintext);
            int length = header.length + plaintext.length + TAG_BITS / 8;
            if (length > MAX_DATAGRAM_BYTES) {
                return null;
            }
            byte[] datagram = Arrays.copyOf(header, length);
            try {
                cipher.updateAAD(header);
                cipher.doFinal(plaintext, 0, plaintext.length, datagram, header.length);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("sealing a final-count datagram failed", e);
            }
            return datagram;
        }
    }

    /**
     * The migration a datagram is for, read without its key.
     *
     * @throws MalformedFinalCountDatagramException if it has no valid header
     */
    public static String migrationId(ByteBuffer datagram) {
        ByteBuffer view = datagram.duplicate();
        if (view.remaining() < MAGIC.length + 2) {
            throw new MalformedFinalCountDatagramException("shorter than its header (" + view.remaining() + " bytes)");
        }
        byte[] magic = new byte[MAGIC.length];
        view.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new MalformedFinalCountDatagramException("not a final-count datagram (magic)");
        }
        int version = view.get() & 0xFF;
        if (version != VERSION) {
            throw new MalformedFinalCountDatagramException("version " + version + " is not " + VERSION);
        }
        int idLength = view.get() & 0xFF;
        if (idLength == 0 || idLength > MAX_MIGRATION_ID_BYTES || view.remaining() < idLength + NONCE_BYTES + TAG_BITS / 8) {
            throw new MalformedFinalCountDatagramException("migration id length " + idLength + " does not fit");
        }
        byte[] id = new byte[idLength];
        view.get(id);
        for (byte b : id) {
            if (b < 0x21 || b > 0x7E) {
                throw new MalformedFinalCountDatagramException("migration id is not printable ASCII");
            }
        }
        return new String(id, StandardCharsets.US_ASCII);
    }

    /**
     * Opens a datagram with its migration's key: the final count, then the held frame if it carries one.
     *
     * @throws MalformedFinalCountDatagramException if it was not sealed with {@code key} (forged, altered or for
     *     another arming of the migration) or does not hold exactly a final count and at most one held frame
     */
    public static List<FrameStreamRecord> open(ByteBuffer datagram, byte[] key) {
        return opener(key).open(datagram);
    }

    /** Prepares the opening of datagrams sealed with {@code key}: the cipher looked up ahead of the switchover. */
    public static Opener opener(byte[] key) {
        SecretKeySpec spec = keySpec(key);
        try {
            return new Opener(spec, Cipher.getInstance(TRANSFORMATION));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available", e);
        }
    }

    /** Opens the datagrams of one migration. Not thread-safe. */
    public static final class Opener {

        private final SecretKeySpec key;
        private final Cipher cipher;

        private Opener(SecretKeySpec key, Cipher cipher) {
            this.key = key;
            this.cipher = cipher;
        }

        /** See {@link FinalCountDatagram#open(ByteBuffer, byte[])}. */
        public List<FrameStreamRecord> open(ByteBuffer datagram) {
            String migrationId = migrationId(datagram);
            int headerBytes = headerBytes(migrationId.length());
            byte[] bytes = new byte[datagram.remaining()];
            datagram.duplicate().get(bytes);
            byte[] plaintext;
            try {
                cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, bytes, headerBytes - NONCE_BYTES,
                        NONCE_BYTES));
                cipher.updateAAD(bytes, 0, headerBytes);
                plaintext = cipher.doFinal(bytes, headerBytes, bytes.length - headerBytes);
            } catch (AEADBadTagException e) {
                throw new MalformedFinalCountDatagramException("not sealed with this migration's key");
            } catch (GeneralSecurityException e) {
                throw new MalformedFinalCountDatagramException("cannot be opened: " + e.getMessage());
            }
            FrameStreamDecoder decoder = new FrameStreamDecoder();
            List<FrameStreamRecord> records;
            try {
                records = decoder.decode(HEAP.wrap(plaintext));
                decoder.finish();
            } catch (MalformedFrameStreamException e) {
                throw new MalformedFinalCountDatagramException("sealed records are malformed: " + e.getMessage());
            }
            boolean finalCountFirst = !records.isEmpty() && records.getFirst() instanceof SourceRead read
                    && read.finalCount();
            boolean heldFrameAfter = records.size() == 1 || records.size() == 2
                    && records.get(1) instanceof ForwardedFrame frame && frame.heldByVmm();
            if (!finalCountFirst || !heldFrameAfter) {
                throw new MalformedFinalCountDatagramException("does not hold a final count and at most a held frame");
            }
            return records;
        }
    }

    private static byte[] migrationId(String migrationId) {
        byte[] id = migrationId.getBytes(StandardCharsets.US_ASCII);
        if (id.length == 0 || id.length > MAX_MIGRATION_ID_BYTES) {
            throw new IllegalArgumentException("migration id " + migrationId + " does not fit a datagram");
        }
        return id;
    }

    /** Magic, version, id length, the id and the nonce: the bytes before the ciphertext. */
    private static int headerBytes(int migrationIdLength) {
        return MAGIC.length + 2 + migrationIdLength + NONCE_BYTES;
    }

    private static SecretKeySpec keySpec(byte[] key) {
        if (key.length != KEY_BYTES) {
            throw new IllegalArgumentException("a final-count key has " + KEY_BYTES + " bytes, not " + key.length);
        }
        return new SecretKeySpec(key, "AES");
    }
}
