package io.netpass.controller;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** Entry point of the controller: the REST API orchestrators call. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class NetpassControllerApplication {

    public static void main(String[] args) {
        SpringApplication.run(NetpassControllerApplication.class, args);
    }
}
