package io.netpass.common.security;

import java.util.Arrays;

import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslOptions;

import io.netty.handler.ssl.SslContextBuilder;
import reactor.netty.http.Http11SslContextSpec;
import reactor.netty.http.Http2SslContextSpec;
import reactor.netty.http.HttpProtocol;
import reactor.netty.http.client.HttpClient;

/**
 * Reactor Netty clients secured by a Spring Boot SSL bundle ({@code spring.ssl.bundle.*}): the bundle's trust store
 * verifies the server (host name included), its key store, if it has one, is the client certificate presented for
 * mutual TLS.
 */
public final class SecureClients {

    private SecureClients() {
    }

    /** {@code client} speaking HTTP/2 over TLS (ALPN h2) with {@code bundle}. */
    public static HttpClient http2(HttpClient client, SslBundle bundle) {
        Http2SslContextSpec spec = Http2SslContextSpec.forClient().configure(builder -> apply(builder, bundle));
        return client.protocol(HttpProtocol.H2).secure(ssl -> ssl.sslContext(spec));
    }

    /** {@code client} speaking HTTP/1.1 over TLS with {@code bundle}. */
    public static HttpClient http11(HttpClient client, SslBundle bundle) {
        Http11SslContextSpec spec = Http11SslContextSpec.forClient().configure(builder -> apply(builder, bundle));
        return client.protocol(HttpProtocol.HTTP11).secure(ssl -> ssl.sslContext(spec));
    }

    private static void apply(SslContextBuilder builder, SslBundle bundle) {
        builder.trustManager(bundle.getManagers().getTrustManagerFactory());
        if (bundle.getStores().getKeyStore() != null) {
            builder.keyManager(bundle.getManagers().getKeyManagerFactory());
        }
        SslOptions options = bundle.getOptions();
        if (options.getEnabledProtocols() != null) {
            builder.protocols(options.getEnabledProtocols());
        }
        if (options.getCiphers() != null) {
            builder.ciphers(Arrays.asList(options.getCiphers()));
        }
    }
}
