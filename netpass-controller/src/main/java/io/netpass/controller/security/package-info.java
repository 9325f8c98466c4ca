/**
 * Who may call the controller and what it presents to agents: bearer tokens read from mounted files (orchestrators'
 * tokens, optionally agents' registration tokens, and the token the controller presents to agents), re-read
 * periodically so a rotated Secret takes effect without a restart.
 */
@NullMarked
package io.netpass.controller.security;

import org.jspecify.annotations.NullMarked;
