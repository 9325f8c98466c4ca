package io.netpass.controller.migration;

/** No known agent, or more than one, found the VM that a create without a source agent asked to discover. */
public class SourceAgentNotFoundException extends RuntimeException {

    public SourceAgentNotFoundException(String message) {
        super(message);
    }
}
