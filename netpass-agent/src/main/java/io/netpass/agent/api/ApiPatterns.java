package io.netpass.agent.api;

/** Shapes of the API's identifiers, shared by validation and the OpenAPI contract. */
final class ApiPatterns {

    static final String MIGRATION_ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
    static final String INTERFACE = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$";
    static final String NAMESPACE = "^/[A-Za-z0-9_./-]{1,255}$";
    static final String MAC = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$";
    static final String AGENT_URL = "^https?://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/?$";

    private ApiPatterns() {
    }
}
