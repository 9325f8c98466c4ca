/**
 * Every Linux call netpass makes, through Java's FFM API: AF_PACKET capture rings and injection sockets, rtnetlink
 * reads of a tap's counters, network namespaces entered by path, and the tun device a VM stand-in opens. Failures
 * are {@link io.netpass.agent.linux.NativeCallException}s naming the call, the interface and errno.
 */
@NullMarked
package io.netpass.agent.linux;

import org.jspecify.annotations.NullMarked;
