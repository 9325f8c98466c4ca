package io.netpass.controller.api;

/** Shapes of the API's identifiers; the same patterns are in openapi/netpass-controller.yaml. */
final class ApiPatterns {

    /** At most 60 characters, so that the agents' {@code ID.N} session ids stay within their 64. */
    static final String MIGRATION_ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$";
    static final String VM = "^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,252}$";
    static final String AGENT_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
    static final String AGENT_URL = "^https?://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/?$";
    static final String HOST = "^[A-Za-z0-9.:\\[\\]_-]{1,253}$";
    static final String INTERFACE = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$";
    static final String NAMESPACE = "^/[A-Za-z0-9_./-]{1,255}$";
    static final String MAC = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$";
    /** libvirt allows more in a name; these are the names a hook script can pass around safely. */
    static final String LIBVIRT_DOMAIN = "^[A-Za-z0-9_][A-Za-z0-9._+:@-]{0,199}$";
    /** A DNS label (RFC 1123), as Kubernetes requires of namespaces. */
    static final String KUBERNETES_NAMESPACE = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
    /** A DNS subdomain (RFC 1123), as Kubernetes requires of a VMI's name. */
    static final String KUBERNETES_NAME = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";
    static final String IDEMPOTENCY_KEY = "^[\\x21-\\x7e]{1,128}$";

    private ApiPatterns() {
    }
}
