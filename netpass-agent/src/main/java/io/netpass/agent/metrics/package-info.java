/**
 * The agent's Micrometer meters, declared in one place ({@link io.netpass.agent.metrics.AgentMeters}) and documented
 * in docs/metrics.md.
 */
@NullMarked
package io.netpass.agent.metrics;

import org.jspecify.annotations.NullMarked;
