package io.netpass.controller.security;

import io.netpass.common.security.TokenFile;
import java.net.URI;

import org.jspecify.annotations.Nullable;
import org.springframework.core.Ordered;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * Requires a bearer token on every {@code /v1/} request: an orchestrator's, or for an agent registering itself
 * ({@code PUT /v1/agents/NAME}) an agent registration token. No token or an unknown one is 401; an agent token
 * elsewhere is 403. Rejections are problem+json like every other error.
 */
public final class BearerTokenFilter implements WebFilter, Ordered {

    private static final String API_PATHS = "/v1/";
    private static final String AGENT_PATHS = "/v1/agents/";
    private static final String BEARER = "Bearer ";

    private final TokenFile callerTokens;
    private final @Nullable TokenFile registrationTokens;
    private final JsonMapper json;

    public BearerTokenFilter(TokenFile callerTokens, @Nullable TokenFile registrationTokens, JsonMapper json) {
        this.callerTokens = callerTokens;
        this.registrationTokens = registrationTokens;
        this.json = json;
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
        String authorization = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        if (authorization == null || !authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return reject(exchange.getResponse(), HttpStatus.UNAUTHORIZED, "token-required", "Bearer token required",
                    "This endpoint needs an Authorization: Bearer token.", path);
        }
        String token = authorization.substring(BEARER.length()).strip();
        if (callerTokens.accepts(token)) {
            return chain.filter(exchange);
        }
        if (registrationTokens == null || !registrationTokens.accepts(token)) {
            return reject(exchange.getResponse(), HttpStatus.UNAUTHORIZED, "token-unknown", "Unknown token",
                    "The bearer token is not one this controller accepts.", path);
        }
        boolean registration = exchange.getRequest().getMethod() == HttpMethod.PUT && path.startsWith(AGENT_PATHS);
        if (!registration) {
            return reject(exchange.getResponse(), HttpStatus.FORBIDDEN, "wrong-caller", "Wrong caller",
                    "An agent registration token may only register agents.", path);
        }
        return chain.filter(exchange);
    }

    private Mono<Void> reject(ServerHttpResponse response, HttpStatus status, String type, String title,
            String detail, String path) {
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        if (status == HttpStatus.UNAUTHORIZED) {
            response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"netpass-controller\"");
        }
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, detail);
        problem.setType(URI.create("urn:netpass:problem:" + type));
        problem.setTitle(title);
        try {
            problem.setInstance(URI.create(path));
        } catch (IllegalArgumentException e) {
            // A path that is no valid URI reference is simply not echoed.
        }
        DataBuffer buffer = response.bufferFactory().wrap(json.writeValueAsBytes(problem));
        return response.writeWith(Mono.just(buffer));
    }
}
