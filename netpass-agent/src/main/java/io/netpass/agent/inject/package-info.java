/**
 * Injection of forwarded frames into the destination VM's tap, in order and with their vnet headers, after making
 * the tap's ring large enough for the burst.
 */
@NullMarked
package io.netpass.agent.inject;

import org.jspecify.annotations.NullMarked;
