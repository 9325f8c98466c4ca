package io.netpass.controller.agents;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * The agents the controller knows: the configured ones and those that registered themselves. A registration renewed
 * within {@code agent-stale-after} is fresh; a stale one is still listed, and its sessions still watched. A
 * registration under a known name with a new URL replaces the old URL (the agent restarted elsewhere, e.g. on another
 * port): the last registration wins, except over a configured agent.
 */
public final class AgentDirectory {

    private static final Logger log = LoggerFactory.getLogger(AgentDirectory.class);

    /** Where the controller learned of an agent. */
    public enum Origin {
        STATIC, REGISTERED, DISCOVERED
    }

    /**
     * An agent as the API lists it.
     *
     * @param name the agent's name
     * @param baseUrl its API's base URL, normalized
     * @param origin configured, registered or discovered
     * @param lastSeenAt the last registration or heartbeat; absent for configured agents
     * @param stale whether a registered agent missed its heartbeats
     */
    public record KnownAgent(String name, URI baseUrl, Origin origin, @Nullable Instant lastSeenAt, boolean stale) {
    }

    private record Entry(String name, URI baseUrl, Origin origin, @Nullable Instant lastSeenAt) {
    }

    private final ConcurrentMap<String, Entry> byName = new ConcurrentHashMap<>();
    private final Duration staleAfter;
    private final Sinks.Many<KnownAgent> arrivals = Sinks.many().multicast().directBestEffort();

    public AgentDirectory(AgentProperties properties) {
        this.staleAfter = properties.agentStaleAfter();
        for (AgentProperties.StaticAgent agent : properties.agents()) {
            byName.put(agent.name(), new Entry(agent.name(), normalize(agent.baseUrl()), Origin.STATIC, null));
        }
    }

    /**
     * Registers an agent or renews its registration.
     *
     * @throws AgentNameTakenException if a configured agent has this name and another URL
     */
    public KnownAgent register(String name, URI baseUrl) {
        URI url = normalize(baseUrl);
        boolean[] arrived = {false};
        Entry entry = byName.compute(name, (key, existing) -> {
            if (existing != null && existing.origin() == Origin.STATIC) {
                if (!existing.baseUrl().equals(url)) {
                    throw new AgentNameTakenException(name, existing.baseUrl());
                }
                return existing;
            }
            if (existing == null || !existing.baseUrl().equals(url)) {
                log.info("agent {} registered at {}{}", name, url,
                        existing == null ? "" : " (was " + existing.baseUrl() + ")");
                arrived[0] = true;
            }
            return new Entry(name, url, Origin.REGISTERED, Instant.now());
        });
        KnownAgent agent = view(entry, Instant.now());
        if (arrived[0]) {
            synchronized (arrivals) {
                arrivals.tryEmitNext(agent);
            }
        }
        return agent;
    }

    /**
     * Agents that registered or were discovered for the first time, or at a new URL; renewals are not repeated here.
     */
    public Flux<KnownAgent> arrivals() {
        return arrivals.asFlux();
    }

    /** The base URL of the agent called {@code name}, configured or registered (stale ones included). */
    public Optional<URI> baseUrlOf(String name) {
        return Optional.ofNullable(byName.get(name)).map(Entry::baseUrl);
    }

    public List<KnownAgent> all() {
        Instant now = Instant.now();
        return byName.values().stream().map(entry -> view(entry, now))
                .sorted(Comparator.comparing(KnownAgent::name)).toList();
    }

    /** Whether some known agent has this base URL. */
    public boolean knows(URI baseUrl) {
        return nameOf(baseUrl).isPresent();
    }

    public Optional<String> nameOf(URI baseUrl) {
        URI url = normalize(baseUrl);
        return byName.values().stream().filter(entry -> entry.baseUrl().equals(url)).map(Entry::name).findFirst();
    }

    /**
     * Records an agent discovered in Kubernetes (its pod runs on node {@code name}); a configured or registered
     * agent of that name wins and is kept: those are the operator's and the agent's own word.
     */
    public void discovered(String name, URI baseUrl) {
        URI url = normalize(baseUrl);
        boolean[] arrived = {false};
        Entry entry = byName.compute(name, (key, existing) -> {
            if (existing != null && existing.origin() != Origin.DISCOVERED) {
                return existing;
            }
            if (existing == null || !existing.baseUrl().equals(url)) {
                log.info("agent {} discovered at {}", name, url);
                arrived[0] = true;
            }
            return new Entry(name, url, Origin.DISCOVERED, null);
        });
        if (arrived[0]) {
            // Like a registration: recovery reads the new agent's sessions at once instead of at its next round.
            synchronized (arrivals) {
                arrivals.tryEmitNext(view(entry, Instant.now()));
            }
        }
    }

    /** Forgets a discovered agent whose pod went away, unless the name was taken over since. */
    public void undiscovered(String name, URI baseUrl) {
        URI url = normalize(baseUrl);
        byName.computeIfPresent(name, (key, existing) -> {
            if (existing.origin() == Origin.DISCOVERED && existing.baseUrl().equals(url)) {
                log.info("agent {} at {} is gone", name, url);
                return null;
            }
            return existing;
        });
    }

    /** The agent of this name, of whatever origin. */
    public Optional<KnownAgent> named(String name) {
        Entry entry = byName.get(name);
        return entry == null ? Optional.empty() : Optional.of(view(entry, Instant.now()));
    }

    private KnownAgent view(Entry entry, Instant now) {
        boolean stale = entry.lastSeenAt() != null && entry.lastSeenAt().plus(staleAfter).isBefore(now);
        return new KnownAgent(entry.name(), entry.baseUrl(), entry.origin(), entry.lastSeenAt(), stale);
    }

    /** {@code scheme://host:port} in lower case, without path or trailing slash, so that URLs compare. */
    public static URI normalize(URI baseUrl) {
        String scheme = baseUrl.getScheme() == null ? "http" : baseUrl.getScheme().toLowerCase(Locale.ROOT);
        String host = baseUrl.getHost() == null ? "" : baseUrl.getHost().toLowerCase(Locale.ROOT);
        int port = baseUrl.getPort();
        return URI.create(scheme + "://" + host + (port < 0 ? "" : ":" + port));
    }
}
