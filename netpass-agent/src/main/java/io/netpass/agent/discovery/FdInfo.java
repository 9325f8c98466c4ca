package io.netpass.agent.discovery;

import java.util.Optional;

/**
 * /proc/PID/fdinfo/FD of a tun file descriptor: the kernel's tun driver adds {@code iff:\tNAME}, the interface the
 * descriptor is attached to (drivers/net/tun.c, tun_chr_show_fdinfo). Other lines are the generic pos, flags,
 * mnt_id and ino.
 */
final class FdInfo {

    private static final String INTERFACE = "iff:";

    private FdInfo() {
    }

    /** The interface a tun descriptor is attached to; empty for another kind of descriptor or a detached tun. */
    static Optional<String> tunInterface(String fdinfo) {
        return fdinfo.lines()
                .filter(line -> line.startsWith(INTERFACE))
                .map(line -> line.substring(INTERFACE.length()).strip())
                .filter(name -> !name.isEmpty())
                .findFirst();
    }
}
