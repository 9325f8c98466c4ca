/**
 * Every meter of the controller, declared in {@link io.netpass.controller.metrics.ControllerMeters} and documented
 * in docs/metrics.md. Tags have bounded values: no migration id, VM or agent URL.
 */
@NullMarked
package io.netpass.controller.metrics;

import org.jspecify.annotations.NullMarked;
