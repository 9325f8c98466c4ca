/**
 * Authentication pieces the agent and the controller share: bearer tokens kept in mounted files, and HTTP clients
 * secured by SSL bundles.
 */
@NullMarked
package io.netpass.common.security;

import org.jspecify.annotations.NullMarked;
