/**
 * The agent's HTTP API on WebFlux: arming and disarming taps for a migration, status, events, and the frame stream
 * peers pull. Contract: {@code openapi/netpass-agent.yaml}. Errors are RFC 9457 problem+json.
 */
@NullMarked
package io.netpass.agent.api;

import org.jspecify.annotations.NullMarked;
