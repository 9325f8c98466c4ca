package io.netpass.agent.api;

import java.net.URI;
import java.util.Locale;

import org.jspecify.annotations.Nullable;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.reactive.result.method.annotation.ResponseEntityExceptionHandler;
import org.springframework.web.server.ServerWebExchange;

import io.netpass.agent.capture.TapAlreadyArmedException;
import io.netpass.agent.discovery.NoTapNicException;
import io.netpass.agent.discovery.NotAQemuProcessException;
import io.netpass.agent.discovery.SeveralVmsFoundException;
import io.netpass.agent.discovery.VmNotFoundException;
import io.netpass.agent.linux.InterfaceNotFoundException;
import io.netpass.agent.linux.NativeCallException;
import io.netpass.agent.linux.NotANetworkNamespaceException;
import io.netpass.agent.linux.NotATapException;
import io.netpass.agent.migration.SessionConflictException;
import io.netpass.agent.migration.SessionFinishedException;
import io.netpass.agent.migration.SessionNotFoundException;
import io.netpass.agent.security.TapNotAllowedException;
import reactor.core.publisher.Mono;

/**
 * Maps every error to RFC 9457 problem+json, once. Problem types are {@code urn:netpass:problem:NAME}, listed in
 * docs/problems.md. Callers never see a stack trace; unexpected errors are logged here.
 */
@RestControllerAdvice
public class ProblemResponses extends ResponseEntityExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(ProblemResponses.class);
    private static final URI ABOUT_BLANK = URI.create("about:blank");

    @ExceptionHandler(NotANetworkNamespaceException.class)
    ProblemDetail notANamespace(NotANetworkNamespaceException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "not-a-network-namespace", "Not a network namespace", e);
    }

    @ExceptionHandler(InterfaceNotFoundException.class)
    ProblemDetail interfaceNotFound(InterfaceNotFoundException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "interface-not-found", "No such interface", e);
    }

    @ExceptionHandler(NotATapException.class)
    ProblemDetail notATap(NotATapException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "not-a-tap", "Not a tap", e);
    }

    @ExceptionHandler(TapNotAllowedException.class)
    ProblemDetail notAllowed(TapNotAllowedException e) {
        return problem(HttpStatus.FORBIDDEN, "tap-not-allowed", "Interface or namespace not allowed", e);
    }

    @ExceptionHandler(TapAlreadyArmedException.class)
    ProblemDetail alreadyArmed(TapAlreadyArmedException e) {
        return problem(HttpStatus.CONFLICT, "tap-already-armed", "Tap already armed", e);
    }

    @ExceptionHandler(SessionConflictException.class)
    ProblemDetail conflict(SessionConflictException e) {
        return problem(HttpStatus.CONFLICT, "session-conflict", "Session armed differently", e);
    }

    @ExceptionHandler(SessionFinishedException.class)
    ProblemDetail finished(SessionFinishedException e) {
        return problem(HttpStatus.CONFLICT, "session-finished", "Session finished", e);
    }

    @ExceptionHandler(SessionNotFoundException.class)
    ProblemDetail notFound(SessionNotFoundException e) {
        return problem(HttpStatus.NOT_FOUND, "session-not-found", "No such session", e);
    }

    @ExceptionHandler(VmNotFoundException.class)
    ProblemDetail vmNotFound(VmNotFoundException e) {
        return problem(HttpStatus.NOT_FOUND, "vm-not-found", "No such VM on this host", e);
    }

    @ExceptionHandler(SeveralVmsFoundException.class)
    ProblemDetail severalVms(SeveralVmsFoundException e) {
        return problem(HttpStatus.CONFLICT, "several-vms-found", "Several QEMU processes match", e);
    }

    @ExceptionHandler(NotAQemuProcessException.class)
    ProblemDetail notQemu(NotAQemuProcessException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "not-a-qemu-process", "Not a QEMU process", e);
    }

    @ExceptionHandler(NoTapNicException.class)
    ProblemDetail noTapNic(NoTapNicException e) {
        return problem(HttpStatus.UNPROCESSABLE_CONTENT, "no-tap-nic", "No NIC on a tap", e);
    }

    @ExceptionHandler(IllegalArgumentException.class)
    ProblemDetail badArgument(IllegalArgumentException e) {
        return problem(HttpStatus.BAD_REQUEST, "bad-request", "Bad request", e);
    }

    @ExceptionHandler(NativeCallException.class)
    ProblemDetail nativeCall(NativeCallException e) {
        log.error("native call failed: {}", e.getMessage());
        return problem(HttpStatus.INTERNAL_SERVER_ERROR, "native-call-failed", "A Linux call failed", e);
    }

    @ExceptionHandler(Exception.class)
    ProblemDetail unexpected(Exception e) {
        log.error("unexpected error", e);
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.INTERNAL_SERVER_ERROR,
                "The agent failed unexpectedly; its log has the details.");
        problem.setType(URI.create("urn:netpass:problem:internal-error"));
        problem.setTitle("Internal error");
        return problem;
    }

    /**
     * Errors the framework maps itself (unreadable body, failed validation, unsupported media type) come without a
     * type: they get {@code urn:netpass:problem:} and their status's reason, e.g. {@code bad-request}, like ours.
     */
    @Override
    protected Mono<ResponseEntity<Object>> createResponseEntity(@Nullable Object body, @Nullable HttpHeaders headers,
            HttpStatusCode status, ServerWebExchange exchange) {
        if (body instanceof ProblemDetail problem
                && (problem.getType() == null || ABOUT_BLANK.equals(problem.getType()))) {
            HttpStatus known = HttpStatus.resolve(status.value());
            String name = known == null ? "http-" + status.value()
                    : known.getReasonPhrase().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-");
            problem.setType(URI.create("urn:netpass:problem:" + name));
        }
        return super.createResponseEntity(body, headers, status, exchange);
    }

    private static ProblemDetail problem(HttpStatus status, String type, String title, Exception e) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, e.getMessage());
        problem.setType(URI.create("urn:netpass:problem:" + type));
        problem.setTitle(title);
        return problem;
    }
}
