package io.netpass.common.http;

import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.env.ConfigurableEnvironment;

/**
 * Works around a Reactor Netty 1.3.6 server bug that left requests unanswered in CI: a keep-alive request that
 * arrives before the previous request's operations ended is buffered, and the connection may then never be read
 * again (reactor-netty#4347, #4361; fixed after the releases served here). A client that sends its next request the
 * moment it has an answer, as orchestrators and the tests do, hits it now and then: one call hangs until it times
 * out. With {@code reactor.netty.http.server.lastFlushWhenNoRead} the previous operations end when the next
 * request arrives, so it is never buffered. Runs before the controller starts its server (registered in
 * META-INF/spring.factories); a value given on the command line wins. Not for the agent: with it, two CI runs saw the
 * agent's frame stream go silent on a kept-alive connection after some pulls (the property also defers a response's
 * last flush), so the agent keeps Reactor Netty's default. Drop it with a Reactor Netty that has the fix.
 */
public final class KeepAliveRead implements EnvironmentPostProcessor {

    static final String PROPERTY = "reactor.netty.http.server.lastFlushWhenNoRead";

    /** The application that needs it; the agent's frame stream ran into silent pulls with it (below). */
    static final String APPLICATION = "netpass-controller";

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        if (APPLICATION.equals(environment.getProperty("spring.application.name"))) {
            apply();
        }
    }

    /** Sets the property unless it is set already; Reactor Netty reads it once, when its server classes load. */
    public static void apply() {
        if (System.getProperty(PROPERTY) == null) {
            System.setProperty(PROPERTY, "true");
        }
    }
}
