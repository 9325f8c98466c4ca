/**
 * The one test-support place of the agent: the namespace lab (network namespaces, bridges, veth pairs built with
 * {@code ip}), the fake VM (a tap opened the way QEMU opens it, read or paused on demand) and sequenced traffic
 * (numbered UDP frames and GSO TCP frames, sent from a client namespace). Tests of every package build on these
 * instead of keeping their own copies.
 */
@NullMarked
package io.netpass.agent.testing;

import org.jspecify.annotations.NullMarked;
