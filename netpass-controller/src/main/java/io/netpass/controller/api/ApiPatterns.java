package io.netpass.controller.api;

/** Shapes of the API's identifiers; the same patterns are in openapi/netpass-controller.yaml. */
final class ApiPatterns {

    /** At most 60 characters, so that the agents' {@code ID.N} session ids stay within their 64. */
    static final String MIGRATION_ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$";
    static final String VM = "^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,252}$";
    static final String AGENT_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
    static final String AGENT_URL = "^https?://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/?$";
    /** An agent in a create request: its base URL, or the name it is configured or registered under. */
    static final String AGENT_REFERENCE = "^(https?://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/?"
            + "|[A-Za-z0-9][A-Za-z0-9._-]{0,62})$";
    static final String HOST = "^[A-Za-z0-9.:\\[\\]_-]{1,253}$";
    static final String INTERFACE = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$";
    static final String NAMESPACE = "^/[A-Za-z0-9_./-]{1,255}$";
    static final String MAC = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$";
    static final String IDEMPOTENCY_KEY = "^[\\x21-\\x7e]{1,128}$";

    private ApiPatterns() {
    }
}
