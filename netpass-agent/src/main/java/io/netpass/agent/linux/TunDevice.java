package io.netpass.agent.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The user-space end of a tap, opened the way QEMU opens it ({@code IFF_TAP|IFF_NO_PI|IFF_VNET_HDR}, a vnet header
 * size, offloads through TUNSETOFFLOAD). netpass itself never reads a VM's tap; this is for VM stand-ins in tests
 * and benchmarks.
 */
public final class TunDevice implements AutoCloseable {

    public static final int TUN_F_CSUM = 0x01;
    public static final int TUN_F_TSO4 = 0x02;
    public static final int TUN_F_TSO6 = 0x04;
    public static final int TUN_F_TSO_ECN = 0x08;
    /** The offloads QEMU's virtio-net asks of a tap when the guest accepts them. */
    public static final int QEMU_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

    private static final int IFF_TAP = 0x0002;
    private static final int IFF_NO_PI = 0x1000;
    private static final int IFF_VNET_HDR = 0x4000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final long TUNSETVNETHDRSZ = 0x400454d8L;
    private static final int IFNAMSIZ = 16;

    private final String name;
    private final int fd;
    private final int vnetHeaderSize;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollfd = arena.allocate(8, 4);

    private TunDevice(String name, int fd, int vnetHeaderSize) {
        this.name = name;
        this.fd = fd;
        this.vnetHeaderSize = vnetHeaderSize;
    }

    /**
     * Creates (or attaches to) tap {@code name} in {@code namespace}, non-blocking, with a vnet header of
     * {@code vnetHeaderSize} bytes (QEMU uses 12 with modern virtio-net) and {@code offloads}.
     */
    public static TunDevice openTap(NetworkNamespace namespace, String name, int vnetHeaderSize, int offloads) {
        int fd = namespace.call(() -> {
            try (Arena call = Arena.ofConfined()) {
                int tun = Libc.open(call.allocateFrom("/dev/net/tun"), Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
                if (tun < 0) {
                    throw NativeCallException.lastError("open", "/dev/net/tun");
                }
                MemorySegment ifreq = call.allocate(40);
                byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
                MemorySegment.copy(bytes, 0, ifreq, JAVA_BYTE, 0, Math.min(bytes.length, IFNAMSIZ - 1));
                ifreq.set(JAVA_SHORT, IFNAMSIZ, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
                if (Libc.ioctl(tun, TUNSETIFF, ifreq) < 0) {
                    NativeCallException failure = NativeCallException.lastError("ioctl TUNSETIFF", name);
                    Libc.close(tun);
                    throw failure;
                }
                return tun;
            }
        });
        try (Arena call = Arena.ofConfined()) {
            MemorySegment size = call.allocate(JAVA_INT);
            size.set(JAVA_INT, 0, vnetHeaderSize);
            Sockets.check(Libc.ioctl(fd, TUNSETVNETHDRSZ, size), "ioctl TUNSETVNETHDRSZ", name);
            // TUNSETOFFLOAD takes its argument by value, not by pointer.
            Sockets.check(Libc.ioctl(fd, TUNSETOFFLOAD, MemorySegment.ofAddress(offloads)), "ioctl TUNSETOFFLOAD", name);
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
        return new TunDevice(name, fd, vnetHeaderSize);
    }

    public String name() {
        return name;
    }

    public int vnetHeaderSize() {
        return vnetHeaderSize;
    }

    /**
     * Reads one frame (vnet header first) into {@code buffer}, waiting up to {@code timeoutMillis}.
     *
     * @return the bytes read, or 0 if none arrived in time
     */
    public int read(MemorySegment buffer, int timeoutMillis) {
        long read = Libc.read(fd, buffer, buffer.byteSize());
        if (read >= 0) {
            return (int) read;
        }
        if (Libc.errno() != Libc.EAGAIN) {
            throw NativeCallException.lastError("read", name);
        }
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, Libc.POLLIN);
        if (Libc.poll(pollfd, 1, timeoutMillis) <= 0) {
            return 0;
        }
        read = Libc.read(fd, buffer, buffer.byteSize());
        if (read < 0) {
            if (Libc.errno() == Libc.EAGAIN) {
                return 0;
            }
            throw NativeCallException.lastError("read", name);
        }
        return (int) read;
    }

    /** Writes one frame, vnet header first, as the VM sending it. */
    public void write(MemorySegment headerAndFrame) {
        if (Libc.write(fd, headerAndFrame, headerAndFrame.byteSize()) < 0) {
            throw NativeCallException.lastError("write", name);
        }
    }

    @Override
    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
