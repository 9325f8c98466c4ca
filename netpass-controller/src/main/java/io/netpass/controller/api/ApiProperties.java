package io.netpass.controller.api;

import java.time.Duration;

import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * The API's bounds ({@code netpass.controller.api.*}).
 *
 * @param agentWait the longest an API call waits on agents (create waits for arming, an event for its forwarding);
 *     the work goes on in the background after. Default 1s.
 * @param streamHeartbeat how often an idle Server-Sent Events stream sends a comment, so proxies keep it open.
 *     Default 15s.
 */
@ConfigurationProperties("netpass.controller.api")
@Validated
public record ApiProperties(
        @NotNull @DefaultValue("1s") Duration agentWait,
        @NotNull @DefaultValue("15s") Duration streamHeartbeat) {
}
