package io.netpass.controller.kubernetes;

import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfig;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;

/**
 * This replica's part in the leader election: it campaigns for the Lease for as long as it runs, runs
 * {@code onStartLeading} when it won and {@code onStopLeading} when it lost or stepped down, and campaigns again
 * after losing. Closing steps down and releases the Lease, so that another replica takes over at once rather than
 * after the lease duration.
 */
public final class Leadership implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Leadership.class);

    private final KubernetesClient client;
    private final LeaderElectionConfig config;
    private final String identity;
    private final Runnable onStartLeading;
    private final Runnable onStopLeading;
    private final AtomicBoolean leading = new AtomicBoolean();
    private volatile boolean closed;
    private volatile @Nullable CompletableFuture<?> campaign;
    private @Nullable Thread thread;

    public Leadership(KubernetesClient client, String namespace, KubernetesProperties.LeaderElection properties,
            Runnable onStartLeading, Runnable onStopLeading) {
        this.client = client;
        this.onStartLeading = onStartLeading;
        this.onStopLeading = onStopLeading;
        String hostname = System.getenv("HOSTNAME");
        this.identity = properties.identity() != null ? properties.identity()
                : hostname != null && !hostname.isBlank() ? hostname : "netpass-controller-" + UUID.randomUUID();
        this.config = new LeaderElectionConfigBuilder()
                .withName(properties.leaseName())
                .withLock(new LeaseLock(namespace, properties.leaseName(), identity))
                .withLeaseDuration(properties.leaseDuration())
                .withRenewDeadline(properties.renewDeadline())
                .withRetryPeriod(properties.retryPeriod())
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(new LeaderCallbacks(this::started, this::stopped,
                        leader -> log.info("leader of {}/{} is {}", namespace, properties.leaseName(), leader)))
                .build();
    }

    public synchronized void start() {
        if (thread == null) {
            thread = Thread.ofPlatform().name("netpass-leader-election").daemon().start(this::campaign);
        }
    }

    public String identity() {
        return identity;
    }

    public boolean leading() {
        return leading.get();
    }

    private void campaign() {
        while (!closed) {
            CompletableFuture<?> running = client.leaderElector().withConfig(config).build().start();
            campaign = running;
            if (closed) {
                running.cancel(true);
            }
            try {
                running.get();
            } catch (CancellationException e) {
                // closing
            } catch (ExecutionException e) {
                log.warn("leader election of {} failed; campaigning again", identity, e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (!closed) {
                try {
                    Thread.sleep(config.getRetryPeriod());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private void started() {
        if (leading.compareAndSet(false, true)) {
            log.info("{} leads: reconciling KubeVirt migrations", identity);
            onStartLeading.run();
        }
    }

    private void stopped() {
        if (leading.compareAndSet(true, false)) {
            log.info("{} no longer leads", identity);
            onStopLeading.run();
        }
    }

    @Override
    public void close() {
        closed = true;
        CompletableFuture<?> running = campaign;
        if (running != null) {
            running.cancel(true);
        }
        Thread campaigner;
        synchronized (this) {
            campaigner = thread;
        }
        if (campaigner != null) {
            campaigner.interrupt();
            try {
                campaigner.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        stopped();
    }
}
