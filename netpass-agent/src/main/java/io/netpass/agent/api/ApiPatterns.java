package io.netpass.agent.api;

/** Shapes of the API's identifiers, shared by validation and the OpenAPI contract. */
final class ApiPatterns {

    static final String MIGRATION_ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
    static final String INTERFACE = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$";
    static final String NAMESPACE = "^/[A-Za-z0-9_./-]{1,255}$";
    static final String MAC = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$";
    static final String AGENT_URL = "^https?://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/?$";

    /** libvirt allows more in a name; these are the names a hook script can pass around safely. */
    static final String LIBVIRT_DOMAIN = "^[A-Za-z0-9_][A-Za-z0-9._+:@-]{0,199}$";
    /** A DNS label (RFC 1123), as Kubernetes requires of namespaces. */
    static final String KUBERNETES_NAMESPACE = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
    /** A DNS subdomain (RFC 1123), as Kubernetes requires of a VMI's name. */
    static final String KUBERNETES_NAME = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

    private ApiPatterns() {
    }
}
