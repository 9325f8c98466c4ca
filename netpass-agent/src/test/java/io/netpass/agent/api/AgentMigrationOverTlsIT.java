package io.netpass.agent.api;

import java.nio.file.Path;

import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.TestPki;

/**
 * The switchovers of {@link AgentMigrationIT}, cut streams included, with both agents serving their API over TLS
 * (HTTP/2 by ALPN) and requiring client certificates: the destination pulls over TLS with its own certificate, the
 * test's controller client presents the controller's.
 */
class AgentMigrationOverTlsIT extends AgentMigrationIT {

    private AgentProcess.Tls tls;

    @Override
    protected AgentProcess startAgent(String name, Path workDirectory, String... arguments) {
        synchronized (this) {
            if (tls == null) {
                tls = AgentProcess.Tls.by(TestPki.create(workDirectory.resolve("pki"), "netpass-test"), true);
            }
        }
        return AgentProcess.start(name, workDirectory, tls, arguments);
    }
}
