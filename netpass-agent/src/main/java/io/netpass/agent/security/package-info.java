/**
 * Who may call the agent and what it may be pointed at: bearer tokens read from mounted files (the controller's
 * and the peer agents'), and allow-lists for interface names and namespace paths. An agent can sniff and inject on
 * any VM's tap, so every endpoint but health and metrics needs a token.
 */
@NullMarked
package io.netpass.agent.security;

import org.jspecify.annotations.NullMarked;
