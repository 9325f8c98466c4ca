/**
 * The agent registering itself with the controller ({@code PUT /v1/agents/NAME}) and renewing that registration as
 * a heartbeat, so that a controller needs no list of agents. Off unless
 * {@code netpass.agent.registration.controller-url} is set; never in the way of startup or the data path.
 */
@NullMarked
package io.netpass.agent.registration;

import org.jspecify.annotations.NullMarked;
