package io.netpass.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a figure was measured on: it means little without the machine and how busy it was. */
record Machine(int cpus, String cpuModel, String kernel) {

    static Machine describe() {
        String model = "unknown";
        for (String line : lines("/proc/cpuinfo")) {
            if (line.startsWith("model name")) {
                model = line.substring(line.indexOf(':') + 1).strip();
                break;
            }
        }
        return new Machine(Runtime.getRuntime().availableProcessors(), model,
                read("/proc/sys/kernel/osrelease").strip());
    }

    /** The 1-, 5- and 15-minute load averages, as {@code uptime} prints them. */
    static String load() {
        String[] fields = read("/proc/loadavg").split(" ");
        return fields[0] + " " + fields[1] + " " + fields[2];
    }

    /** The 1-minute load average. */
    static double load1() {
        return Double.parseDouble(read("/proc/loadavg").split(" ")[0]);
    }

    @Override
    public String toString() {
        return "nproc " + cpus + ", " + cpuModel + ", kernel " + kernel + ", Java " + Runtime.version()
                + ", load " + load();
    }

    private static String read(String path) {
        try {
            return Files.readString(Path.of(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static java.util.List<String> lines(String path) {
        try {
            return Files.readAllLines(Path.of(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
