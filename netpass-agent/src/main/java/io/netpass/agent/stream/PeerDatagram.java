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
 * The sealed UDP datagrams two agents exchange at the switchover besides the frame stream, under the key the
 * destination gave for the migration (docs/frame-stream.md, "The final-count datagram" and "The release datagram"):
 * the source's final count of its VM's reads ({@link Kind#FINAL_COUNT}, source to destination), so that it does not
 * queue behind the frames on the stream, and the destination's word that its VM runs ({@link Kind#RELEASE},
 * destination to source), so that the source need not wait for the HTTP release request.
 *
 * <p>Layout: magic ({@code NPFC} for a final count, {@code NPRL} for a release), version (1), migration id length,
 * migration id (ASCII), a 12-byte nonce, then the sealed payload (AES-256-GCM): for a final count a frame stream (its
 * header, the READ record, optionally the FRAME record flagged HELD_BY_VMM), for a release nothing. The bytes before
 * the ciphertext are its additional data, so the kind is sealed too: neither kind opens as the other. A datagram that
 * is not exactly one of these is refused with a {@link MalformedPeerDatagramException}.
 */
public final class PeerDatagram {

    /** The size of the key the destination hands the source for a migration. */
    public static final int KEY_BYTES = 32;
    /** The largest UDP payload over IPv4; a datagram that would be larger is not sent (the stream carries the count). */
    public static final int MAX_DATAGRAM_BYTES = 65_507;

    private static final int VERSION = 1;
    private static final int MAGIC_BYTES = 4;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final String TRANSFORMATION = "AES/GCM/NoPadding";
    private static final int MAX_MIGRATION_ID_BYTES = 64;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final DataBufferFactory HEAP = DefaultDataBufferFactory.sharedInstance;
    private static final FrameStreamEncoder ENCODER = new FrameStreamEncoder();

    /** What a datagram says, and so which way it goes. */
    public enum Kind {
        /** The source's final count of its VM's reads, to the destination. */
        FINAL_COUNT("NPFC"),
        /** The destination's VM runs: to the source, which then releases what it keeps. */
        RELEASE("NPRL");

        private final byte[] magic;

        Kind(String magic) {
            this.magic = magic.getBytes(StandardCharsets.US_ASCII);
        }

        /** The {@code kind} tag of meters. */
        public String tag() {
            return name().toLowerCase();
        }

        private static @Nullable Kind ofMagic(byte[] magic) {
            for (Kind kind : values()) {
                if (Arrays.equals(kind.magic, magic)) {
                    return kind;
                }
            }
            return null;
        }
    }

    /** What a datagram's header says, read without its key. */
    public record Header(Kind kind, String migrationId) {
    }

    private PeerDatagram() {
    }

    /** A new random key for one migration. */
    public static byte[] newKey() {
        byte[] key = new byte[KEY_BYTES];
        RANDOM.nextBytes(key);
        return key;
    }

    /**
     * Prepares the sealing of one datagram of {@code kind} for {@code migrationId} under {@code key}: the cipher set
     * up, the nonce drawn, so that sealing at the switchover costs only the encryption.
     */
    public static Sealer sealer(Kind kind, String migrationId, byte[] key) {
        byte[] id = migrationId(migrationId);
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        byte[] header = ByteBuffer.allocate(headerBytes(id.length))
                .put(kind.magic).put((byte) VERSION).put((byte) id.length).put(id).put(nonce).array();
        try {
            Cipher cipher = Cipher.getInstance(TRANSFORMATION);
            cipher.init(Cipher.ENCRYPT_MODE, keySpec(key), new GCMParameterSpec(TAG_BITS, nonce));
            return new Sealer(kind, header, cipher);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available", e);
        }
    }

    /** Seals one datagram; its nonce is used once, so a sealer is too. Not thread-safe. */
    public static final class Sealer {

        private final Kind kind;
        private final byte[] header;
        private final Cipher cipher;
        private boolean used;

        private Sealer(Kind kind, byte[] header, Cipher cipher) {
            this.kind = kind;
            this.header = header;
            this.cipher = cipher;
        }

        /**
         * Seals {@code finalCount} and the held frame's record, if any.
         *
         * @return the datagram, or null if it would exceed {@link #MAX_DATAGRAM_BYTES}
         * @throws IllegalStateException if this sealer was used already or seals releases
         */
        public byte @Nullable [] sealFinalCount(SourceRead finalCount, @Nullable DataBuffer heldFrameRecord) {
            if (!finalCount.finalCount()) {
                throw new IllegalArgumentException("a final-count datagram carries a final count");
            }
            requireUnused(Kind.FINAL_COUNT);
            List<DataBuffer> records = new ArrayList<>(3);
            records.add(ENCODER.header(HEAP));
            records.add(ENCODER.read(finalCount, HEAP));
            if (heldFrameRecord != null) {
                records.add(heldFrameRecord);
            }
            DataBuffer joined = HEAP.join(records);
            byte[] plaintext = new byte[joined.readableByteCount()];
            joined.read(plaintext);
            return seal(plaintext);
        }

        /**
         * Seals a release: no payload, the header alone authenticated.
         *
         * @throws IllegalStateException if this sealer was used already or seals final counts
         */
        public byte[] sealRelease() {
            requireUnused(Kind.RELEASE);
            byte[] datagram = seal(new byte[0]);
            if (datagram == null) {
                throw new IllegalStateException("a release datagram always fits");
            }
            return datagram;
        }

        private void requireUnused(Kind sealing) {
            if (kind != sealing) {
                throw new IllegalStateException("a sealer for " + kind + " datagrams cannot seal a " + sealing);
            }
            if (used) {
                throw new IllegalStateException("a sealer seals one datagram");
            }
            used = true;
        }

        private byte @Nullable [] seal(byte[] plaintext) {
            int length = header.length + plaintext.length + TAG_BITS / 8;
            if (length > MAX_DATAGRAM_BYTES) {
                return null;
            }
            byte[] datagram = Arrays.copyOf(header, length);
            try {
                cipher.updateAAD(header);
                cipher.doFinal(plaintext, 0, plaintext.length, datagram, header.length);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("sealing a " + kind + " datagram failed", e);
            }
            return datagram;
        }
    }

    /**
     * The kind of a datagram and the migration it is for, read without its key.
     *
     * @throws MalformedPeerDatagramException if it has no valid header
     */
    public static Header header(ByteBuffer datagram) {
        ByteBuffer view = datagram.duplicate();
        if (view.remaining() < MAGIC_BYTES + 2) {
            throw new MalformedPeerDatagramException("shorter than its header (" + view.remaining() + " bytes)");
        }
        byte[] magic = new byte[MAGIC_BYTES];
        view.get(magic);
        Kind kind = Kind.ofMagic(magic);
        if (kind == null) {
            throw new MalformedPeerDatagramException("not a datagram of netpass agents (magic)");
        }
        int version = view.get() & 0xFF;
        if (version != VERSION) {
            throw new MalformedPeerDatagramException("version " + version + " is not " + VERSION);
        }
        int idLength = view.get() & 0xFF;
        if (idLength == 0 || idLength > MAX_MIGRATION_ID_BYTES || view.remaining() < idLength + NONCE_BYTES + TAG_BITS / 8) {
            throw new MalformedPeerDatagramException("migration id length " + idLength + " does not fit");
        }
        byte[] id = new byte[idLength];
        view.get(id);
        for (byte b : id) {
            if (b < 0x21 || b > 0x7E) {
                throw new MalformedPeerDatagramException("migration id is not printable ASCII");
            }
        }
        return new Header(kind, new String(id, StandardCharsets.US_ASCII));
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

        /**
         * Opens a final-count datagram: the final count, then the held frame if it carries one.
         *
         * @throws MalformedPeerDatagramException if it is not a final count sealed with this key (forged, altered,
         *     for another arming of the migration, a release) or does not hold exactly a final count and at most
         *     one held frame
         */
        public List<FrameStreamRecord> openFinalCount(ByteBuffer datagram) {
            byte[] plaintext = open(datagram, Kind.FINAL_COUNT);
            FrameStreamDecoder decoder = new FrameStreamDecoder();
            List<FrameStreamRecord> records;
            try {
                records = decoder.decode(HEAP.wrap(plaintext));
                decoder.finish();
            } catch (MalformedFrameStreamException e) {
                throw new MalformedPeerDatagramException("sealed records are malformed: " + e.getMessage());
            }
            boolean finalCountFirst = !records.isEmpty() && records.getFirst() instanceof SourceRead read
                    && read.finalCount();
            boolean heldFrameAfter = records.size() == 1 || records.size() == 2
                    && records.get(1) instanceof ForwardedFrame frame && frame.heldByVmm();
            if (!finalCountFirst || !heldFrameAfter) {
                throw new MalformedPeerDatagramException("does not hold a final count and at most a held frame");
            }
            return records;
        }

        /**
         * Opens a release datagram.
         *
         * @throws MalformedPeerDatagramException if it is not a release sealed with this key (forged, altered, for
         *     another arming of the migration, a final count)
         */
        public void openRelease(ByteBuffer datagram) {
            if (open(datagram, Kind.RELEASE).length != 0) {
                throw new MalformedPeerDatagramException("a release carries nothing");
            }
        }

        private byte[] open(ByteBuffer datagram, Kind expected) {
            Header header = header(datagram);
            if (header.kind() != expected) {
                throw new MalformedPeerDatagramException("a " + header.kind() + " datagram, not a " + expected);
            }
            int headerBytes = headerBytes(header.migrationId().length());
            byte[] bytes = new byte[datagram.remaining()];
            datagram.duplicate().get(bytes);
            try {
                cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, bytes, headerBytes - NONCE_BYTES,
                        NONCE_BYTES));
                cipher.updateAAD(bytes, 0, headerBytes);
                return cipher.doFinal(bytes, headerBytes, bytes.length - headerBytes);
            } catch (AEADBadTagException e) {
                throw new MalformedPeerDatagramException("not sealed with this migration's key");
            } catch (GeneralSecurityException e) {
                throw new MalformedPeerDatagramException("cannot be opened: " + e.getMessage());
            }
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
        return MAGIC_BYTES + 2 + migrationIdLength + NONCE_BYTES;
    }

    private static SecretKeySpec keySpec(byte[] key) {
        if (key.length != KEY_BYTES) {
            throw new IllegalArgumentException("a migration's datagram key has " + KEY_BYTES + " bytes, not "
                    + key.length);
        }
        return new SecretKeySpec(key, "AES");
    }
}
