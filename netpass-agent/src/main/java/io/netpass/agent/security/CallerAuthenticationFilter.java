package io.netpass.agent.security;

import io.netpass.common.security.TokenFile;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.regex.Pattern;

import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

import org.jspecify.annotations.Nullable;

import org.springframework.core.Ordered;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.http.server.reactive.SslInfo;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

import reactor.core.publisher.Mono;

/**
 * Requires a bearer token on every {@code /v1/} request: a peer agent's for {@code /v1/peer/}, the controller's for
 * the rest. No token or an unknown one is 401; a known token of the other role is 403. With mutual TLS and
 * certificate names configured ({@link AgentSecurityProperties#controllerCertificateName()}), a request without a
 * token may instead be authenticated by its client certificate's common name; a token, when present, decides.
 */
public final class CallerAuthenticationFilter implements WebFilter, Ordered {

    private static final String PEER_PATHS = "/v1/peer/";
    private static final String API_PATHS = "/v1/";
    private static final String BEARER = "Bearer ";

    private final TokenFile controllerTokens;
    private final TokenFile peerTokens;
    private final @Nullable Pattern controllerCertificate;
    private final @Nullable Pattern peerCertificate;

    public CallerAuthenticationFilter(TokenFile controllerTokens, TokenFile peerTokens,
            AgentSecurityProperties properties) {
        this.controllerTokens = controllerTokens;
        this.peerTokens = peerTokens;
        this.controllerCertificate = compile(properties.controllerCertificateName());
        this.peerCertificate = compile(properties.peerCertificateName());
    }

    private static @Nullable Pattern compile(@Nullable String regex) {
        return regex == null || regex.isBlank() ? null : Pattern.compile(regex);
    }

    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        if (!path.startsWith(API_PATHS)) {
            return chain.filter(exchange);
        }
        CallerRole required = path.startsWith(PEER_PATHS) ? CallerRole.PEER : CallerRole.CONTROLLER;
        String authorization = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        if (authorization == null) {
            CallerRole certified = certificateRole(exchange.getRequest().getSslInfo());
            if (certified != null) {
                return certified == required ? chain.filter(exchange) : wrongCaller(exchange, required, path);
            }
        }
        if (authorization == null || !authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return reject(exchange.getResponse(), HttpStatus.UNAUTHORIZED, "Bearer token required",
                    "This endpoint needs an Authorization: Bearer token.", path);
        }
        String token = authorization.substring(BEARER.length()).strip();
        boolean controller = controllerTokens.accepts(token);
        boolean peer = peerTokens.accepts(token);
        if (!controller && !peer) {
            return reject(exchange.getResponse(), HttpStatus.UNAUTHORIZED, "Unknown token",
                    "The bearer token is not one this agent accepts.", path);
        }
        boolean allowed = required == CallerRole.PEER ? peer : controller;
        return allowed ? chain.filter(exchange) : wrongCaller(exchange, required, path);
    }

    private static Mono<Void> wrongCaller(ServerWebExchange exchange, CallerRole required, String path) {
        return reject(exchange.getResponse(), HttpStatus.FORBIDDEN, "Wrong caller",
                required == CallerRole.PEER ? "Only peer agents may pull frames."
                        : "Only the controller may arm, disarm or report events.", path);
    }

    /**
     * The role the client certificate's common name grants; none without a (verified) certificate, or if the name
     * matches neither pattern or both.
     */
    private @Nullable CallerRole certificateRole(@Nullable SslInfo ssl) {
        if (ssl == null || (controllerCertificate == null && peerCertificate == null)) {
            return null;
        }
        X509Certificate[] chain = ssl.getPeerCertificates();
        if (chain == null || chain.length == 0) {
            return null;
        }
        String name = commonName(chain[0]);
        if (name == null) {
            return null;
        }
        boolean controller = controllerCertificate != null && controllerCertificate.matcher(name).matches();
        boolean peer = peerCertificate != null && peerCertificate.matcher(name).matches();
        if (controller == peer) {
            return null;
        }
        return controller ? CallerRole.CONTROLLER : CallerRole.PEER;
    }

    private static @Nullable String commonName(X509Certificate certificate) {
        try {
            List<Rdn> rdns = new LdapName(certificate.getSubjectX500Principal().getName()).getRdns();
            String found = null;
            for (Rdn rdn : rdns) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    if (found != null) {
                        return null;
                    }
                    found = rdn.getValue().toString();
                }
            }
            return found;
        } catch (InvalidNameException e) {
            return null;
        }
    }

    private static Mono<Void> reject(ServerHttpResponse response, HttpStatus status, String title, String detail,
            String path) {
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        if (status == HttpStatus.UNAUTHORIZED) {
            response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"netpass-agent\"");
        }
        String body = "{\"type\":\"about:blank\",\"title\":\"" + title + "\",\"status\":" + status.value()
                + ",\"detail\":\"" + detail + "\",\"instance\":\"" + jsonEscape(path) + "\"}";
        DataBuffer buffer = response.bufferFactory().wrap(body.getBytes(StandardCharsets.UTF_8));
        return response.writeWith(Mono.just(buffer));
    }

    private static String jsonEscape(String text) {
        StringBuilder escaped = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                escaped.append('\\').append(c);
            } else if (c < 0x20) {
                escaped.append(String.format("\\u%04x", (int) c));
            } else {
                escaped.append(c);
            }
        }
        return escaped.toString();
    }
}
