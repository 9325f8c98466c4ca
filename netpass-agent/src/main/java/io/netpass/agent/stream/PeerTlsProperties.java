package io.netpass.agent.stream;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * How this agent reaches peer agents over TLS ({@code netpass.agent.peer-tls.*}).
 *
 * @param bundle name of the SSL bundle ({@code spring.ssl.bundle.pem.NAME.*}) used towards peers: its trust store
 *     verifies the source agent's certificate, its key store, if any, is this agent's client certificate when peers
 *     require one ({@code server.ssl.client-auth=need}). A rotated bundle with {@code reload-on-update} takes effect
 *     for new connections without a restart. With a bundle, source agents are {@code https} URLs; default none:
 *     peers are reached over h2c ({@code http} URLs).
 */
@ConfigurationProperties("netpass.agent.peer-tls")
public record PeerTlsProperties(@Nullable String bundle) {
}
