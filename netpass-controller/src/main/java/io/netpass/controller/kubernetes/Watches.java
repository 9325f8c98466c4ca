package io.netpass.controller.kubernetes;

import java.time.Duration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.client.dsl.Informable;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

/**
 * Starts informers that never give up: an API server that is unreachable, or a resource it does not serve yet (KubeVirt
 * not installed, RBAC not granted), is logged and retried with the client's backoff instead of failing the caller
 * (a leader callback, the application's start) or stopping the informer for good.
 */
public final class Watches {

    private static final Logger log = LoggerFactory.getLogger(Watches.class);

    private Watches() {
    }

    /** An informer on {@code source} feeding {@code handler}, started in the background; {@code what} names it in logs. */
    public static <T> SharedIndexInformer<T> start(Informable<T> source, ResourceEventHandler<? super T> handler,
            Duration resync, String what) {
        SharedIndexInformer<T> informer = source.runnableInformer(resync.toMillis());
        informer.addEventHandler(handler);
        informer.exceptionHandler((started, error) -> {
            log.warn("watching {} failed ({}); retrying", what, error.toString());
            return true;
        });
        informer.start().whenComplete((ignored, error) -> {
            if (error != null) {
                log.warn("watching {} did not start: {}", what, error.toString());
            } else {
                log.info("watching {}", what);
            }
        });
        return informer;
    }
}
