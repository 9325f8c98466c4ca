/**
 * Test support shared by the controller's tests and benchmark: simulated agents (real HTTP servers on loopback
 * that implement the agent API), a controller started as a Spring application with a client bound to it, and a
 * Kubernetes API server that plays KubeVirt.
 */
@NullMarked
package io.netpass.controller.testing;

import org.jspecify.annotations.NullMarked;
