/**
 * Finds a VM on this host without being told its taps: the QEMU process (by pid, libvirt domain or KubeVirt VMI),
 * its tap NICs from its command line and the tun file descriptors' {@code iff:} in /proc/PID/fdinfo, their network
 * namespace and the guest NICs' MACs. Reads /proc only; it makes no Linux call of its own.
 */
@NullMarked
package io.netpass.agent.discovery;

import org.jspecify.annotations.NullMarked;
