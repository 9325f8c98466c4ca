package io.netpass.agent.capture;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import java.util.regex.Pattern;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/** MAC addresses as the low 48 bits of a long, parsed from {@code aa:bb:cc:dd:ee:ff}. */
public final class MacAddress {

    private static final Pattern TEXT = Pattern.compile("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}");

    private MacAddress() {
    }

    public static boolean isValid(String text) {
        return TEXT.matcher(text).matches();
    }

    /** @throws IllegalArgumentException if {@code text} is not six colon-separated hex octets */
    public static long parse(String text) {
        if (!isValid(text)) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        return HexFormat.fromHexDigitsToLong(text.replace(":", ""));
    }

    /** The MAC address at {@code offset} of {@code frame}. */
    public static long read(MemorySegment frame, long offset) {
        long mac = 0;
        for (int i = 0; i < 6; i++) {
            mac = (mac << 8) | (frame.get(JAVA_BYTE, offset + i) & 0xff);
        }
        return mac;
    }
}
