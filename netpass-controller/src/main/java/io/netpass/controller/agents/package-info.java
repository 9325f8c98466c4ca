/**
 * The per-host agents as the controller sees them: which ones it knows (configured or self-registered, with their
 * heartbeats) and the HTTP client that arms, watches and disarms their sessions, with short timeouts on every call
 * so that an agent in trouble never holds up a migration.
 */
@NullMarked
package io.netpass.controller.agents;

import org.jspecify.annotations.NullMarked;
