package io.netpass.agent.testing;

import java.util.HexFormat;

/** A 48-bit Ethernet (MAC) address, held in the low bits of {@code value}. */
public record EthernetAddress(long value) {

    /** {@code ff:ff:ff:ff:ff:ff}. */
    public static final EthernetAddress BROADCAST = new EthernetAddress(0xffff_ffff_ffffL);

    private static final int LENGTH = 6;

    public EthernetAddress {
        if ((value & ~0xffff_ffff_ffffL) != 0) {
            throw new IllegalArgumentException("not a 48-bit address: " + Long.toHexString(value));
        }
    }

    /** Parses {@code aa:bb:cc:dd:ee:ff}. */
    public static EthernetAddress of(String text) {
        String[] octets = text.split(":");
        if (octets.length != LENGTH) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        long value = 0;
        for (String octet : octets) {
            if (octet.length() != 2) {
                throw new IllegalArgumentException("not a MAC address: " + text);
            }
            value = (value << 8) | HexFormat.fromHexDigits(octet);
        }
        return new EthernetAddress(value);
    }

    /** Reads the address at {@code offset} of {@code bytes}. */
    public static EthernetAddress read(byte[] bytes, int offset) {
        long value = 0;
        for (int i = 0; i < LENGTH; i++) {
            value = (value << 8) | (bytes[offset + i] & 0xff);
        }
        return new EthernetAddress(value);
    }

    public byte[] bytes() {
        byte[] bytes = new byte[LENGTH];
        writeTo(bytes, 0);
        return bytes;
    }

    /** Writes the six octets to {@code bytes} at {@code offset}. */
    public void writeTo(byte[] bytes, int offset) {
        for (int i = 0; i < LENGTH; i++) {
            bytes[offset + i] = (byte) (value >>> (8 * (LENGTH - 1 - i)));
        }
    }

    @Override
    public String toString() {
        return HexFormat.ofDelimiter(":").formatHex(bytes());
    }
}
