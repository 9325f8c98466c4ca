package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** Socket options shared by the socket types of this package. */
final class Sockets {

    private Sockets() {
    }

    /** A receive timeout, so that no blocking receive can hang a thread for ever. */
    static void setReceiveTimeout(int fd, long millis, String subject) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment timeval = arena.allocate(16, 8);
            timeval.set(JAVA_LONG, 0, millis / 1000);
            timeval.set(JAVA_LONG, 8, (millis % 1000) * 1000);
            check(Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, timeval), "setsockopt SO_RCVTIMEO", subject);
        }
    }

    static void setInt(int fd, int level, int option, int value, String call, String subject) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment segment = arena.allocate(JAVA_INT);
            segment.set(JAVA_INT, 0, value);
            check(Libc.setsockopt(fd, level, option, segment), call, subject);
        }
    }

    static void check(int result, String call, String subject) {
        if (result < 0) {
            throw NativeCallException.lastError(call, subject);
        }
    }
}
