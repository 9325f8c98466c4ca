/**
 * Who may call the agent and what it may be pointed at: bearer tokens read from mounted files (the controller's
 * and the peer agents'), or with mutual TLS a client certificate whose name the configuration maps to a role, and
 * allow-lists for interface names and namespace paths. An agent can sniff and inject on any VM's tap, so every
 * endpoint but health and metrics needs an authenticated caller (docs/security.md).
 */
@NullMarked
package io.netpass.agent.security;

import org.jspecify.annotations.NullMarked;
