package io.netpass.agent;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** Entry point of the per-host agent. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class NetpassAgentApplication {

    public static void main(String[] args) {
        SpringApplication.run(NetpassAgentApplication.class, args);
    }
}
