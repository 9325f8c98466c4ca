package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** A running process's threads as the kernel sees them, from /proc/PID/task. */
public final class ProcessThreads {

    private ProcessThreads() {
    }

    /**
     * Every thread of process {@code pid} by name (the kernel keeps 15 characters of it) with its nice value;
     * threads of one name are expected to share it, the last one read wins.
     */
    public static Map<String, Integer> niceByName(long pid) {
        Map<String, Integer> nice = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    // The fields after the name start with the third (state); nice is the nineteenth.
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    nice.put(name, Integer.parseInt(fields[19 - 3]));
                } catch (NoSuchFileException e) {
                    // The thread ended meanwhile.
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the threads of process " + pid, e);
        }
        return nice;
    }
}
