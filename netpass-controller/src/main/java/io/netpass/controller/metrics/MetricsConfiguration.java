package io.netpass.controller.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Declares the controller's meters on the application's registry. */
@Configuration(proxyBeanMethods = false)
class MetricsConfiguration {

    @Bean
    ControllerMeters controllerMeters(MeterRegistry registry) {
        return new ControllerMeters(registry);
    }
}
