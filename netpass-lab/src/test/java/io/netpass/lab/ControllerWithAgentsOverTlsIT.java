package io.netpass.lab;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.TestPki;

/**
 * The migrations of {@link ControllerWithAgentsIT}, controller restarts included, with every API call over TLS and
 * client certificates required: the controller calls the agents over https with its own SSL bundle (its trust store
 * the agents' CA, its key store the controller's certificate), the destination agent pulls from the source over TLS
 * with its own certificate.
 */
class ControllerWithAgentsOverTlsIT extends ControllerWithAgentsIT {

    private AgentProcess.Tls tls;

    @Override
    protected AgentProcess startAgent(String name, Path workDirectory, String... arguments) {
        return AgentProcess.start(name, workDirectory, tls(workDirectory), arguments);
    }

    @Override
    protected List<String> controllerProperties() {
        // The longer agent-call timeout of the plain variant also covers a restarted controller's first TLS
        // handshakes (C1 only, on two cores shared with both agents).
        List<String> properties = new ArrayList<>(super.controllerProperties());
        properties.addAll(tls.bundle("agents", tls.controller()));
        properties.add("netpass.controller.agent-calls.tls-bundle=agents");
        return properties;
    }

    private synchronized AgentProcess.Tls tls(Path workDirectory) {
        if (tls == null) {
            tls = AgentProcess.Tls.by(TestPki.create(workDirectory.resolve("pki"), "netpass-test"), true);
        }
        return tls;
    }
}
