package io.netpass.bench;

import java.util.Arrays;
import java.util.Locale;

/** Repeated measurements of one figure, summarised as median and range. */
final class Samples {

    private double[] values = new double[0];

    void add(double value) {
        values = Arrays.copyOf(values, values.length + 1);
        values[values.length - 1] = value;
    }

    int count() {
        return values.length;
    }

    double median() {
        double[] sorted = sorted();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    double min() {
        return sorted()[0];
    }

    double max() {
        return sorted()[values.length - 1];
    }

    /** {@code median (min–max, n=N)} with {@code format} applied to each number. */
    String summary(String format) {
        if (values.length == 0) {
            return "none";
        }
        return String.format(Locale.ROOT, format + " (" + format + "–" + format + ", n=%d)",
                median(), min(), max(), values.length);
    }

    private double[] sorted() {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted;
    }
}
