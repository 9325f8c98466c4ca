package io.netpass.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.netpass.agent.linux.NetworkNamespace;
import io.netpass.agent.linux.TunDevice;

/**
 * A VM stand-in that reads its tap as fast as one thread can (one {@code read} per frame, as QEMU without vhost
 * does) and only counts: unlike the tests' fake VM it keeps nothing, so it is never the slower side.
 */
final class CountingVm implements AutoCloseable {

    private static final int VNET_HEADER_SIZE = 12;
    private static final int READ_BUFFER = VNET_HEADER_SIZE + 0x10000 + 18;

    private final TunDevice tap;
    private final Thread reader;
    private volatile boolean closing;
    private volatile long frames;

    private CountingVm(TunDevice tap) {
        this.tap = tap;
        this.reader = Thread.ofPlatform().daemon().name("counting-vm-" + tap.name()).unstarted(this::read);
    }

    /** Opens tap {@code name} in {@code namespace} as QEMU does and starts reading; the caller sets it up. */
    static CountingVm start(NetworkNamespace namespace, String name) {
        CountingVm vm = new CountingVm(TunDevice.openTap(namespace, name, VNET_HEADER_SIZE, TunDevice.QEMU_OFFLOADS));
        vm.reader.start();
        return vm;
    }

    /** Frames read so far. */
    long frames() {
        return frames;
    }

    private void read() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(READ_BUFFER);
            long count = 0;
            while (!closing) {
                if (tap.read(buffer, 10) > 0) {
                    frames = ++count;
                }
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        closing = true;
        reader.join();
        tap.close();
    }
}
