package io.netpass.bench;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/** {@code key=value} command-line arguments with defaults, e.g. {@code sizes=64,1500 repetitions=5}. */
final class BenchArguments {

    private final Map<String, String> values = new HashMap<>();

    BenchArguments(String[] args) {
        for (String arg : args) {
            int equals = arg.indexOf('=');
            if (equals <= 0) {
                throw new IllegalArgumentException("expected key=value, got " + arg);
            }
            values.put(arg.substring(0, equals), arg.substring(equals + 1));
        }
    }

    int integer(String key, int fallback) {
        return values.containsKey(key) ? Integer.parseInt(values.get(key)) : fallback;
    }

    String string(String key, String fallback) {
        return values.getOrDefault(key, fallback);
    }

    double decimal(String key, double fallback) {
        return values.containsKey(key) ? Double.parseDouble(values.get(key)) : fallback;
    }

    int[] integers(String key, int... fallback) {
        return values.containsKey(key)
                ? Arrays.stream(values.get(key).split(",")).mapToInt(Integer::parseInt).toArray()
                : fallback;
    }

    long[] longs(String key, long... fallback) {
        return values.containsKey(key)
                ? Arrays.stream(values.get(key).split(",")).mapToLong(Long::parseLong).toArray()
                : fallback;
    }
}
