package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;
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
        return field(pid, 19);
    }

    /**
     * Every thread of process {@code pid} by name with its scheduling policy (0 ordinary, 1 SCHED_FIFO, …); the
     * last one of a name read wins, so a name is under SCHED_FIFO if any of its threads is.
     */
    public static Map<String, Integer> policyByName(long pid) {
        Map<String, Integer> policies = new TreeMap<>();
        forEachThread(pid, (name, fields) -> policies.merge(name, Integer.parseInt(fields[41 - 3]), Math::max));
        return policies;
    }

    /** Field {@code number} (as proc(5) counts them) of each thread's stat, by thread name. */
    private static Map<String, Integer> field(long pid, int number) {
        Map<String, Integer> values = new TreeMap<>();
        forEachThread(pid, (name, fields) -> values.put(name, Integer.parseInt(fields[number - 3])));
        return values;
    }

    /** Hands each thread's name and its stat's fields from the third (state) on. */
    private static void forEachThread(long pid, BiConsumer<String, String[]> thread) {
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    thread.accept(name, stat.substring(stat.lastIndexOf(')') + 2).split(" "));
                } catch (NoSuchFileException e) {
                    // The thread ended meanwhile.
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the threads of process " + pid, e);
        }
    }
}
