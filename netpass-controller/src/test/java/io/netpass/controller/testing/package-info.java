/**
 * Test support shared by the controller's tests and benchmark: simulated agents (real HTTP servers on loopback
 * that implement the agent API) and a controller started as a Spring application with a client bound to it.
 */
@NullMarked
package io.netpass.controller.testing;

import org.jspecify.annotations.NullMarked;
