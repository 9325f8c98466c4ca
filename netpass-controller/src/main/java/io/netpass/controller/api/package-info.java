/**
 * The controller's HTTP API on WebFlux: migrations (create, read, list, cancel, events, a Server-Sent Events
 * stream of state changes) and agents (registration, listing). Contract: {@code openapi/netpass-controller.yaml}.
 * Every error is RFC 9457 problem+json; no call waits on an agent longer than {@code netpass.controller.api.agent-wait}.
 */
@NullMarked
package io.netpass.controller.api;

import org.jspecify.annotations.NullMarked;
