package io.netpass.controller.migration;

/** A create repeats an id or Idempotency-Key with different content. */
public class MigrationConflictException extends RuntimeException {

    public MigrationConflictException(String message) {
        super(message);
    }
}
