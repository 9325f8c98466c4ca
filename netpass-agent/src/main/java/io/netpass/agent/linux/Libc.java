package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library calls netpass makes, bound once through FFM. Every call returns its raw result; callers
 * turn {@code -1} into a {@link NativeCallException} with {@link #errno()} of the same thread.
 */
final class Libc {

    static final int AF_PACKET = 17;
    static final int AF_NETLINK = 16;
    static final int AF_INET = 2;
    static final int SOCK_RAW = 3;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOCK_NONBLOCK = 0x800;
    static final int NETLINK_ROUTE = 0;
    static final int SOL_SOCKET = 1;
    static final int SO_RCVTIMEO = 20;
    static final int SO_RCVBUF = 8;
    static final int SOL_PACKET = 263;
    static final int ETH_P_ALL = 0x0003;
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_NONBLOCK = 0x800;
    static final int O_CLOEXEC = 0x80000;
    static final int CLONE_NEWNET = 0x40000000;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;
    static final int MAP_LOCKED = 0x2000;
    static final short POLLIN = 0x1;
    static final short POLLERR = 0x8;
    static final short POLLHUP = 0x10;
    static final short POLLNVAL = 0x20;
    static final int MSG_DONTWAIT = 0x40;
    static final int PRIO_PROCESS = 0;
    static final int SCHED_OTHER = 0;
    static final int SCHED_FIFO = 1;
    static final int SCHED_RESET_ON_FORK = 0x40000000;

    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int ENETDOWN = 100;
    static final int ENXIO = 6;
    static final int ENODEV = 19;
    static final int EINVAL = 22;
    static final int ENOBUFS = 105;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    // errno is per OS thread, so each thread keeps its own capture segment.
    private static final ThreadLocal<MemorySegment> CALL_STATE_SEGMENT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE));

    private static final MethodHandle SOCKET = errnoCall("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle BIND = errnoCall("bind", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SETSOCKOPT =
            errnoCall("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle GETSOCKOPT =
            errnoCall("getsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle SEND = errnoCall("send", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle SENDMMSG = errnoCall("sendmmsg", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle RECV = errnoCall("recv", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle READ = errnoCall("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle WRITE = errnoCall("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle POLL = errnoCall("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle MMAP =
            errnoCall("mmap", ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG);
    private static final MethodHandle MUNMAP = errnoCall("munmap", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle OPEN = errnoCall("open", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle CLOSE = errnoCall("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle SETNS = errnoCall("setns", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle GETTID = LINKER.downcallHandle(LIBC.find("gettid").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SETPRIORITY = errnoCall("setpriority", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle SCHED_SETSCHEDULER =
            errnoCall("sched_setscheduler", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle SCHED_GETSCHEDULER = errnoCall("sched_getscheduler", JAVA_INT, JAVA_INT);
    private static final MethodHandle GETPRIORITY = errnoCall("getpriority", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle IOCTL = LINKER.downcallHandle(
            LIBC.find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LIBC.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Libc() {
    }

    private static MethodHandle errnoCall(String name, ValueLayout result, MemoryLayout... args) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(), FunctionDescriptor.of(result, args), CAPTURE_ERRNO);
    }

    private static MemorySegment state() {
        return CALL_STATE_SEGMENT.get();
    }

    /** The errno left by the last call of this class on the calling thread. */
    static int errno() {
        return (int) ERRNO.get(state(), 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int socket(int domain, int type, int protocol) {
        try {
            return (int) SOCKET.invokeExact(state(), domain, type, protocol);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int bind(int fd, MemorySegment address) {
        try {
            return (int) BIND.invokeExact(state(), fd, address, (int) address.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int setsockopt(int fd, int level, int option, MemorySegment value) {
        try {
            return (int) SETSOCKOPT.invokeExact(state(), fd, level, option, value, (int) value.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int getsockopt(int fd, int level, int option, MemorySegment value, MemorySegment length) {
        try {
            return (int) GETSOCKOPT.invokeExact(state(), fd, level, option, value, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long send(int fd, MemorySegment buffer, long length, int flags) {
        try {
            return (long) SEND.invokeExact(state(), fd, buffer, length, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int sendmmsg(int fd, MemorySegment messages, int count, int flags) {
        try {
            return (int) SENDMMSG.invokeExact(state(), fd, messages, count, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long recv(int fd, MemorySegment buffer, long length, int flags) {
        try {
            return (long) RECV.invokeExact(state(), fd, buffer, length, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long read(int fd, MemorySegment buffer, long length) {
        try {
            return (long) READ.invokeExact(state(), fd, buffer, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long write(int fd, MemorySegment buffer, long length) {
        try {
            return (long) WRITE.invokeExact(state(), fd, buffer, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int poll(MemorySegment pollfds, long count, int timeoutMillis) {
        try {
            return (int) POLL.invokeExact(state(), pollfds, count, timeoutMillis);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static MemorySegment mmap(long length, int prot, int flags, int fd) {
        try {
            return (MemorySegment) MMAP.invokeExact(state(), MemorySegment.NULL, length, prot, flags, fd, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int munmap(MemorySegment address, long length) {
        try {
            return (int) MUNMAP.invokeExact(state(), address, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int open(MemorySegment path, int flags) {
        try {
            return (int) OPEN.invokeExact(state(), path, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int close(int fd) {
        try {
            return (int) CLOSE.invokeExact(state(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int setns(int fd, int nstype) {
        try {
            return (int) SETNS.invokeExact(state(), fd, nstype);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The calling thread's kernel thread id. */
    static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int setpriority(int which, int who, int nice) {
        try {
            return (int) SETPRIORITY.invokeExact(state(), which, who, nice);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int schedSetscheduler(int pid, int policy, MemorySegment param) {
        try {
            return (int) SCHED_SETSCHEDULER.invokeExact(state(), pid, policy, param);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int schedGetscheduler(int pid) {
        try {
            return (int) SCHED_GETSCHEDULER.invokeExact(state(), pid);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int getpriority(int which, int who) {
        try {
            return (int) GETPRIORITY.invokeExact(state(), which, who);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ioctl(int fd, long request, MemorySegment argument) {
        try {
            return (int) IOCTL.invokeExact(state(), fd, request, argument);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static short htons(int value) {
        return Short.reverseBytes((short) value);
    }
}
