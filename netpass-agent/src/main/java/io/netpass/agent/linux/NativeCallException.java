package io.netpass.agent.linux;

import java.util.Map;

/**
 * A Linux call failed. The message names the call, the interface or path it was about, and errno,
 * e.g. {@code bind(vm0tap): ENODEV (No such device)}.
 */
public class NativeCallException extends RuntimeException {

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(4, "EINTR"), Map.entry(5, "EIO"),
            Map.entry(6, "ENXIO"), Map.entry(9, "EBADF"), Map.entry(11, "EAGAIN"), Map.entry(12, "ENOMEM"),
            Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"), Map.entry(16, "EBUSY"), Map.entry(17, "EEXIST"),
            Map.entry(19, "ENODEV"), Map.entry(20, "ENOTDIR"), Map.entry(21, "EISDIR"), Map.entry(22, "EINVAL"),
            Map.entry(24, "EMFILE"), Map.entry(25, "ENOTTY"), Map.entry(28, "ENOSPC"), Map.entry(90, "EMSGSIZE"),
            Map.entry(93, "EPROTONOSUPPORT"), Map.entry(95, "EOPNOTSUPP"), Map.entry(97, "EAFNOSUPPORT"),
            Map.entry(100, "ENETDOWN"), Map.entry(105, "ENOBUFS"), Map.entry(110, "ETIMEDOUT"));

    private final String call;
    private final String subject;
    private final int errno;

    public NativeCallException(String call, String subject, int errno) {
        super(call + "(" + subject + "): " + errnoName(errno) + " (" + Libc.strerror(errno) + ")");
        this.call = call;
        this.subject = subject;
        this.errno = errno;
    }

    /** Builds the exception from the errno the failed call left on this thread. */
    static NativeCallException lastError(String call, String subject) {
        return new NativeCallException(call, subject, Libc.errno());
    }

    public static String errnoName(int errno) {
        return NAMES.getOrDefault(errno, "errno " + errno);
    }

    /** The failed call, e.g. {@code bind}. */
    public String call() {
        return call;
    }

    /** The interface or path the call was about. */
    public String subject() {
        return subject;
    }

    public int errno() {
        return errno;
    }
}
