package io.netpass.controller.contract;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.springframework.http.HttpHeaders;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFilterFunction;
import org.springframework.web.reactive.function.client.ExchangeFunction;

import reactor.core.publisher.Mono;

/**
 * A WebClient filter that checks every response a test receives against the contract and remembers what did not
 * match, so a test's ordinary calls double as contract checks. Event streams are checked for status and media type
 * only, and passed through unbuffered.
 */
public final class ContractRecorder implements ExchangeFilterFunction {

    private final OpenApiContract contract;
    private final List<String> violations = new CopyOnWriteArrayList<>();
    private final List<String> checked = new CopyOnWriteArrayList<>();

    public ContractRecorder(OpenApiContract contract) {
        this.contract = contract;
    }

    @Override
    public Mono<ClientResponse> filter(ClientRequest request, ExchangeFunction next) {
        String method = request.method().name();
        String path = request.url().getRawPath();
        return next.exchange(request).flatMap(response -> {
            int status = response.statusCode().value();
            String contentType = response.headers().asHttpHeaders().getFirst(HttpHeaders.CONTENT_TYPE);
            if (contentType != null && contentType.startsWith("text/event-stream")) {
                record(contract.check(method, path, status, contentType, null), method, path, status);
                return Mono.just(response);
            }
            return response.bodyToMono(String.class).defaultIfEmpty("").map(body -> {
                record(contract.check(method, path, status, contentType, body), method, path, status);
                return response.mutate().body(body).build();
            });
        });
    }

    private void record(List<String> found, String method, String path, int status) {
        violations.addAll(found);
        checked.add(method + " " + path + " " + status);
    }

    /** Every mismatch seen so far. */
    public List<String> violations() {
        return List.copyOf(violations);
    }

    /** Every response checked so far, as {@code METHOD path status}. */
    public List<String> checked() {
        return List.copyOf(checked);
    }
}
