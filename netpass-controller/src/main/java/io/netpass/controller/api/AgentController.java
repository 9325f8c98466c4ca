package io.netpass.controller.api;

import java.net.URI;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Pattern;

import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

import io.netpass.controller.agents.AgentDirectory;

/** Agents register themselves here and renew the registration as a heartbeat; orchestrators list them. */
@RestController
public class AgentController {

    private final AgentDirectory directory;

    public AgentController(AgentDirectory directory) {
        this.directory = directory;
    }

    @PutMapping(path = "/v1/agents/{agentName}", consumes = MediaType.APPLICATION_JSON_VALUE)
    public AgentView register(@PathVariable @Pattern(regexp = ApiPatterns.AGENT_NAME) String agentName,
            @Valid @RequestBody AgentRegistrationRequest registration) {
        return AgentView.of(directory.register(agentName, URI.create(registration.baseUrl())));
    }

    @GetMapping("/v1/agents")
    public AgentView.Page list() {
        return new AgentView.Page(directory.all().stream().map(AgentView::of).toList());
    }
}
