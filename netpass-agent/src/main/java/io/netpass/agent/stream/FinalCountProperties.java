package io.netpass.agent.stream;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;

/**
 * The final-count port ({@code netpass.agent.final-count.*}): besides the frame stream, the source sends its final
 * count of its VM's reads to the destination agent in one UDP datagram, sealed with a key the destination gave over
 * the stream, so that the count does not wait behind the frames on the stream; the destination tells the source that
 * its VM runs in one, sealed with the same key, so that the source need not wait for the HTTP request
 * (docs/frame-stream.md). The stream still carries the count and the request the release: a datagram lost or
 * filtered costs only time.
 *
 * @param enabled whether this agent receives datagrams: as a destination it asks for the final count's, as a source it
 *     offers a port for the release's. Default true.
 * @param port the UDP port it listens on, on every address; 0 picks a free one. Default 7070, the API's TCP port.
 */
@ConfigurationProperties("netpass.agent.final-count")
@Validated
public record FinalCountProperties(
        @DefaultValue("true") boolean enabled,
        @Min(0) @Max(65_535) @DefaultValue("7070") int port) {
}
