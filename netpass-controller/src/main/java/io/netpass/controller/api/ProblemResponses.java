package io.netpass.controller.api;

import java.net.URI;
import java.util.stream.Collectors;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.validation.FieldError;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.bind.support.WebExchangeBindException;
import org.springframework.web.method.annotation.HandlerMethodValidationException;
import org.springframework.web.reactive.result.method.annotation.ResponseEntityExceptionHandler;
import org.springframework.web.server.ServerWebExchange;

import io.netpass.controller.agents.AgentNameTakenException;
import io.netpass.controller.migration.MigrationConflictException;
import io.netpass.controller.migration.MigrationFinishedException;
import io.netpass.controller.migration.MigrationNotFoundException;
import io.netpass.controller.migration.SourceAgentNotFoundException;
import io.netpass.controller.migration.UnknownAgentException;
import io.netpass.controller.migration.VmAlreadyMigratingException;
import reactor.core.publisher.Mono;

/**
 * Maps every error to RFC 9457 problem+json, once. Problem types are {@code urn:netpass:problem:NAME}, listed in
 * docs/problems.md; the framework's own errors (bad JSON, wrong method, unknown path) have no type, which RFC 9457
 * reads as {@code about:blank}.
 * Callers never see a stack trace; unexpected errors are logged here.
 */
@RestControllerAdvice
public class ProblemResponses extends ResponseEntityExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(ProblemResponses.class);

    @ExceptionHandler(MigrationNotFoundException.class)
    ResponseEntity<ProblemDetail> notFound(MigrationNotFoundException e) {
        return problem(HttpStatus.NOT_FOUND, "migration-not-found", "No such migration", e);
    }

    @ExceptionHandler(MigrationConflictException.class)
    ResponseEntity<ProblemDetail> conflict(MigrationConflictException e) {
        return problem(HttpStatus.CONFLICT, "migration-conflict", "Migration exists with different content", e);
    }

    @ExceptionHandler(VmAlreadyMigratingException.class)
    ResponseEntity<ProblemDetail> vmBusy(VmAlreadyMigratingException e) {
        return problem(HttpStatus.CONFLICT, "vm-already-migrating", "VM already in an active migration", e);
    }

    @ExceptionHandler(MigrationFinishedException.class)
    ResponseEntity<ProblemDetail> finished(MigrationFinishedException e) {
        return problem(HttpStatus.CONFLICT, "migration-finished", "Migration already finished", e);
    }

    @ExceptionHandler(UnknownAgentException.class)
    ResponseEntity<ProblemDetail> unknownAgent(UnknownAgentException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "unknown-agent", "Unknown agent", e);
    }

    @ExceptionHandler(SourceAgentNotFoundException.class)
    ResponseEntity<ProblemDetail> sourceNotFound(SourceAgentNotFoundException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "source-agent-not-found", "No single source agent found the VM",
                e);
    }

    @ExceptionHandler(AgentNameTakenException.class)
    ResponseEntity<ProblemDetail> nameTaken(AgentNameTakenException e) {
        return problem(HttpStatus.CONFLICT, "agent-name-taken", "Agent name taken", e);
    }

    @ExceptionHandler(Exception.class)
    ResponseEntity<ProblemDetail> unexpected(Exception e) {
        log.error("unexpected error", e);
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.INTERNAL_SERVER_ERROR,
                "The controller failed unexpectedly; its log has the details.");
        problem.setType(URI.create("urn:netpass:problem:internal-error"));
        problem.setTitle("Internal error");
        return entity(problem);
    }

    /** Names the fields that failed, rather than the framework's generic "Invalid request content". */
    @Override
    protected Mono<ResponseEntity<Object>> handleWebExchangeBindException(WebExchangeBindException e,
            HttpHeaders headers, HttpStatusCode status, ServerWebExchange exchange) {
        String detail = e.getFieldErrors().stream()
                .map(error -> error.getField() + ": " + error.getDefaultMessage())
                .collect(Collectors.joining("; "));
        return invalid(detail.isEmpty() ? "Invalid request content." : detail, exchange);
    }

    @Override
    protected Mono<ResponseEntity<Object>> handleHandlerMethodValidationException(HandlerMethodValidationException e,
            HttpHeaders headers, HttpStatusCode status, ServerWebExchange exchange) {
        String detail = e.getParameterValidationResults().stream()
                .flatMap(result -> result.getResolvableErrors().stream()
                        .map(error -> (result.getMethodParameter().getParameterName() == null ? "parameter"
                                : result.getMethodParameter().getParameterName())
                                + (error instanceof FieldError field ? "." + field.getField() : "")
                                + ": " + error.getDefaultMessage()))
                .collect(Collectors.joining("; "));
        return invalid(detail.isEmpty() ? "Invalid request." : detail, exchange);
    }

    private Mono<ResponseEntity<Object>> invalid(String detail, ServerWebExchange exchange) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, detail);
        problem.setType(URI.create("urn:netpass:problem:invalid-request"));
        problem.setTitle("Invalid request");
        problem.setInstance(URI.create(exchange.getRequest().getPath().value()));
        return Mono.just(ResponseEntity.badRequest()
                .contentType(MediaType.APPLICATION_PROBLEM_JSON).body(problem));
    }

    private static ResponseEntity<ProblemDetail> problem(HttpStatus status, String type, String title, Exception e) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, e.getMessage());
        problem.setType(URI.create("urn:netpass:problem:" + type));
        problem.setTitle(title);
        return entity(problem);
    }

    /**
     * With the content type set: WebFlux then writes problem+json even where the handler produces something else
     * (the event stream) or the caller accepts only that.
     */
    private static ResponseEntity<ProblemDetail> entity(ProblemDetail problem) {
        return ResponseEntity.status(problem.getStatus()).contentType(MediaType.APPLICATION_PROBLEM_JSON).body(problem);
    }
}
