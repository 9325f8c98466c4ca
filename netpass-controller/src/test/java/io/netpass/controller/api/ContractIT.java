package io.netpass.controller.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpMethod;
import org.springframework.web.reactive.result.method.RequestMappingInfo;
import org.springframework.web.reactive.result.method.annotation.RequestMappingHandlerMapping;

import io.netpass.controller.contract.OpenApiContract;
import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;

/**
 * Code and contract agree: the operations openapi/netpass-controller.yaml declares are exactly those the controller
 * serves, and real responses of every operation validate against the contract's schemas.
 */
class ContractIT {

    @TempDir
    Path directory;

    @Test
    void theControllerServesExactlyTheOperationsOfTheContract() throws Exception {
        try (ControllerLab lab = new ControllerLab(directory)) {
            RunningController controller = lab.start();
            RequestMappingHandlerMapping mapping = controller.context()
                    .getBean("requestMappingHandlerMapping", RequestMappingHandlerMapping.class);
            Set<OpenApiContract.Operation> served = new HashSet<>();
            for (RequestMappingInfo info : mapping.getHandlerMethods().keySet()) {
                info.getPatternsCondition().getPatterns().forEach(pattern -> info.getMethodsCondition().getMethods()
                        .forEach(method -> served.add(new OpenApiContract.Operation(method.name(),
                                pattern.getPatternString()))));
            }
            assertThat(served).containsExactlyInAnyOrderElementsOf(lab.contract().operations());
        }
    }

    @Test
    void everyOperationAnswersAsTheContractSays() throws Exception {
        try (ControllerLab lab = new ControllerLab(directory)) {
            RunningController controller = lab.start();
            controller.call(HttpMethod.PUT, "/v1/agents/host-r", Map.of("baseUrl", "http://127.0.0.1:1"));
            controller.call(HttpMethod.GET, "/v1/agents", null);
            lab.create(lab.migration("c-1", "vm-c1"));
            lab.create(lab.migration("c-1", "vm-c1"));
            lab.awaitState("c-1", "ARMED");
            controller.call(HttpMethod.GET, "/v1/migrations?active=true&limit=5", null);
            controller.client().get().uri("/v1/migrations/c-1/events")
                    .header("Authorization", "Bearer " + RunningController.CALLER_TOKEN)
                    .retrieve().bodyToFlux(String.class).take(1).blockLast(Duration.ofSeconds(5));
            lab.event("c-1", "DESTINATION_RESUMED");
            lab.awaitFinal("c-1", "COMPLETED");
            lab.create(lab.migration("c-2", "vm-c2"));
            controller.call(HttpMethod.DELETE, "/v1/migrations/c-2", null);
            Map<String, Object> byName = lab.migration("c-3", "vm-c3");
            byName.put("sourceAgent", "host-a");
            byName.put("destinationAgent", "host-b");
            assertThat(lab.create(byName).status()).isEqualTo(202);
            controller.call(HttpMethod.DELETE, "/v1/migrations/c-3", null);
            controller.call(HttpMethod.GET, "/v1/migrations", null);

            assertThat(lab.recorder().checked()).hasSizeGreaterThan(10);
            Set<String> exercised = new HashSet<>();
            for (String checked : lab.recorder().checked()) {
                String[] parts = checked.split(" ");
                exercised.add(parts[0] + " " + parts[1].replaceAll("^/v1/migrations/[^/?]+", "/v1/migrations/{migrationId}")
                        .replaceAll("^/v1/agents/[^/?]+", "/v1/agents/{agentName}").replaceAll("\\?.*", ""));
            }
            Set<String> declared = new HashSet<>();
            lab.contract().operations().forEach(operation -> declared.add(operation.method() + " " + operation.path()));
            assertThat(exercised).containsAll(declared);
            assertThat(lab.recorder().violations()).isEmpty();
        }
    }
}
