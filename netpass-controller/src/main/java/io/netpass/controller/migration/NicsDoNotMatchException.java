package io.netpass.controller.migration;

/** The NICs the two agents discovered cannot be paired: a MAC missing or repeated on one side, or none at all. */
final class NicsDoNotMatchException extends RuntimeException {

    NicsDoNotMatchException(String message) {
        super(message);
    }
}
