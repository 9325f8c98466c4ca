/**
 * Capture of an armed tap: every frame handed to it is recorded in order, and the tap's own read and drop counters
 * tell which of them the VM never read. Those are kept, off-heap and bounded, until they are forwarded.
 */
@NullMarked
package io.netpass.agent.capture;

import org.jspecify.annotations.NullMarked;
