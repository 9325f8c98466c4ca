package io.netpass.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import javax.net.ssl.SSLContext;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;

import org.jspecify.annotations.Nullable;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.pem.PemSslStoreBundle;
import org.springframework.boot.ssl.pem.PemSslStoreDetails;

import io.netpass.agent.testing.ChildProcesses;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A pod of the rendered chart run as a local process, as the kubelet would run it: its volumes laid out in a
 * directory of its own (the ConfigMap's files, the Secret's token files, PEM certificates; host paths stay the
 * host's), its container's environment applied, the service's runnable jar started on free loopback ports.
 */
final class RenderedPod implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    /** The node the pods run on, as the downward API's {@code spec.nodeName} gives it. */
    static final String NODE_NAME = "rendered-node";

    /**
     * The four tokens, as the chart's Secret holds them.
     *
     * @param caller orchestrators'
     * @param controller the controller's, presented to agents
     * @param peer agents', to each other
     * @param registration agents' registration
     */
    record Tokens(String caller, String controller, String peer, String registration) {

        static Tokens random() {
            SecureRandom random = new SecureRandom();
            return new Tokens(token(random), token(random), token(random), token(random));
        }

        private static String token(SecureRandom random) {
            byte[] bytes = new byte[24];
            random.nextBytes(bytes);
            return HexFormat.of().formatHex(bytes);
        }

        String byKey(String key) {
            return switch (key) {
                case "caller.token" -> caller;
                case "controller.token" -> controller;
                case "peer.token" -> peer;
                case "registration.token" -> registration;
                default -> throw new IllegalArgumentException(key);
            };
        }
    }

    /** A CA and one certificate it signed for 127.0.0.1, made with openssl: what cert-manager would put in Secrets. */
    static final class Pki {

        static Path create(Path directory) {
            try {
                Files.createDirectories(directory);
                Files.writeString(directory.resolve("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
                openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=netpass test CA");
                openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=localhost");
                openssl(directory, "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                        "-CAcreateserial", "-out", "tls.crt", "-days", "1", "-extfile", "san.ext");
                return directory;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static void openssl(Path directory, String... arguments) {
            List<String> command = new ArrayList<>(List.of("openssl"));
            command.addAll(List.of(arguments));
            try {
                Process process = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true)
                        .start();
                String output = new String(process.getInputStream().readAllBytes());
                assertThat(process.waitFor()).as("%s: %s", command, output).isZero();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        /** A client context trusting the CA, presenting the certificate if {@code withCertificate}. */
        static SSLContext context(Path directory, boolean withCertificate) {
            PemSslStoreDetails trust = PemSslStoreDetails.forCertificate("file:" + directory.resolve("ca.crt"));
            PemSslStoreDetails key = withCertificate ? PemSslStoreDetails.forCertificate("file:"
                    + directory.resolve("tls.crt")).withPrivateKey("file:" + directory.resolve("tls.key")) : null;
            return SslBundle.of(new PemSslStoreBundle(key, trust)).createSslContext();
        }
    }

    /** A service's runnable jar, from system property {@code property} (set by the build). */
    static Path jar(String property) {
        String configured = System.getProperty(property);
        assertThat(configured).as(property).isNotNull();
        Path jar = Path.of(configured);
        assertThat(jar).as("built by the reactor before this module").isRegularFile();
        return jar;
    }

    private final String name;
    private final Process process;
    private final URI api;
    private final URI management;
    private final Path log;

    private RenderedPod(String name, Process process, URI api, URI management, Path log) {
        this.name = name;
        this.process = process;
        this.api = api;
        this.management = management;
        this.log = log;
    }

    /**
     * Lays out {@code pod}'s volumes under {@code root} (every path in its configuration moved there too; host paths
     * stay the host's), starts {@code jar} with the container's environment on free loopback ports, through
     * {@code launcher} if given (a command that runs its arguments, e.g. capsh), and waits until it is ready.
     */
    static RenderedPod start(Path jar, PodSpec pod, List<HasMetadata> objects, Path root, Tokens tokens,
            @Nullable Path pki, String... launcher) {
        return start(jar, pod, objects, root, tokens, pki, List.of(), launcher);
    }

    /**
     * {@link #start(Path, PodSpec, List, Path, Tokens, Path, String...)} with {@code arguments} added to the
     * service's command line, for what differs outside a cluster (a Service's DNS name, say).
     */
    static RenderedPod start(Path jar, PodSpec pod, List<HasMetadata> objects, Path root, Tokens tokens,
            @Nullable Path pki, List<String> arguments, String... launcher) {
        Container container = pod.getContainers().getFirst();
        try {
            for (VolumeMount mount : container.getVolumeMounts()) {
                Volume volume = volume(pod, mount);
                if (volume.getHostPath() != null) {
                    continue;
                }
                Path directory = Files.createDirectories(root.resolve(mount.getMountPath().substring(1)));
                if (volume.getConfigMap() != null) {
                    ConfigMap config = objects.stream().filter(o -> o instanceof ConfigMap
                            && o.getMetadata().getName().equals(volume.getConfigMap().getName()))
                            .map(ConfigMap.class::cast).findFirst().orElseThrow();
                    for (Map.Entry<String, String> file : config.getData().entrySet()) {
                        Files.writeString(directory.resolve(file.getKey()), relocate(file.getValue(), pod, root));
                    }
                } else if (volume.getSecret() != null && !volume.getSecret().getItems().isEmpty()) {
                    for (KeyToPath item : volume.getSecret().getItems()) {
                        Files.writeString(directory.resolve(item.getPath()), tokens.byKey(item.getKey()) + "\n");
                    }
                } else if (volume.getSecret() != null) {
                    assertThat(pki).as("a TLS Secret is mounted").isNotNull();
                    for (String file : List.of("tls.crt", "tls.key", "ca.crt")) {
                        Files.copy(pki.resolve(file), directory.resolve(file));
                    }
                }
            }
            int apiPort = ChildProcesses.freeLoopbackPort();
            int managementPort = ChildProcesses.freeLoopbackPort();
            List<String> command = new ArrayList<>(List.of(launcher));
            command.addAll(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", jar.toString(),
                    // Only where it listens differs from the pod: loopback, free ports.
                    "--server.address=127.0.0.1", "--server.port=" + apiPort,
                    "--management.server.address=127.0.0.1", "--management.server.port=" + managementPort,
                    "--spring.main.banner-mode=off"));
            if (container.getPorts().stream().anyMatch(port -> "final-count".equals(port.getName()))) {
                // A UDP port on every address: any free one, as other agents may hold the pod's on this host.
                command.add("--netpass.agent.final-count.port=0");
            }
            command.addAll(arguments);
            ProcessBuilder builder = new ProcessBuilder(command);
            for (EnvVar variable : container.getEnv()) {
                if (variable.getValue() != null) {
                    builder.environment().put(variable.getName(), relocate(variable.getValue(), pod, root));
                } else if (variable.getValueFrom() != null && variable.getValueFrom().getFieldRef() != null) {
                    builder.environment().put(variable.getName(),
                            downwardApi(variable.getValueFrom().getFieldRef().getFieldPath(), container));
                }
            }
            Path log = root.resolve(container.getName() + ".log");
            Process process = builder.redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            String scheme = pki != null ? "https" : "http";
            RenderedPod service = new RenderedPod(container.getName(), process,
                    URI.create(scheme + "://127.0.0.1:" + apiPort), URI.create("http://127.0.0.1:" + managementPort),
                    log);
            try {
                service.awaitReady(service.management.resolve("/actuator/health/readiness"));
            } catch (RuntimeException | Error e) {
                service.close();
                throw e;
            }
            return service;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What the kubelet puts in a {@code fieldRef} variable: this pod runs on loopback, on {@link #NODE_NAME}. */
    private static String downwardApi(String fieldPath, Container container) {
        return switch (fieldPath) {
            case "spec.nodeName" -> NODE_NAME;
            case "status.podIP", "status.hostIP" -> "127.0.0.1";
            case "metadata.name" -> container.getName() + "-0";
            case "metadata.namespace" -> NetpassChart.NAMESPACE;
            default -> throw new IllegalArgumentException("no downward API field " + fieldPath + " here");
        };
    }

    private static Volume volume(PodSpec pod, VolumeMount mount) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
    }

    /** {@code text} with every mount path but host paths moved under {@code root}, in one pass. */
    private static String relocate(String text, PodSpec pod, Path root) {
        String mountPaths = pod.getContainers().getFirst().getVolumeMounts().stream()
                .filter(mount -> volume(pod, mount).getHostPath() == null).map(VolumeMount::getMountPath)
                .sorted(Comparator.comparingInt(String::length).reversed()).map(Pattern::quote)
                .collect(Collectors.joining("|"));
        return Pattern.compile("(?<![\\w./-])(" + mountPaths + ")/").matcher(text)
                .replaceAll(match -> Matcher.quoteReplacement(root.resolve(match.group(1).substring(1)) + "/"));
    }

    private void awaitReady(URI readiness) {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError(name + " exited with the chart's configuration: " + logText());
            }
            try {
                if (http.send(HttpRequest.newBuilder(readiness).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        throw new AssertionError(name + " not ready within " + START_TIMEOUT + ": " + logText());
    }

    /** {@code method path} with a JSON body, presenting {@code token}. */
    HttpResponse<String> call(HttpClient http, String method, String path, String token, String json) {
        try {
            return http.send(HttpRequest.newBuilder(api.resolve(path)).timeout(Duration.ofSeconds(20))
                    .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(json)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(name + " " + method + " " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    URI api() {
        return api;
    }

    /** The agent's (or controller's) process: capsh and the shell exec it, so it is the one started. */
    long pid() {
        return process.pid();
    }

    /** The Prometheus exposition on the management port. */
    String metrics() {
        try {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(management.resolve("/actuator/prometheus"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            throw new UncheckedIOException(name + " metrics", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    int get(HttpClient http, String path, String token) {
        return send(http, path, token).statusCode();
    }

    String body(HttpClient http, String path, String token) {
        return send(http, path, token).body();
    }

    private HttpResponse<String> send(HttpClient http, String path, String token) {
        try {
            return http.send(HttpRequest.newBuilder(api.resolve(path)).timeout(Duration.ofSeconds(10))
                    .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(name + " " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Whether {@code http} gets no HTTP answer from the API: the TLS handshake or the connection fails. */
    boolean refused(HttpClient http) {
        return status(http, api.resolve("/v1/agents")) < 0;
    }

    /** Whether the API answers a plain HTTP request on its port at all (-1 when the connection fails). */
    boolean answersPlainHttp() {
        int status = status(HttpClient.newHttpClient(), URI.create("http://" + api.getAuthority() + "/v1/agents"));
        return status == 200 || status == 401;
    }

    private static int status(HttpClient http, URI uri) {
        try {
            return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() {
        ChildProcesses.stop(process, Duration.ofSeconds(15));
    }

    @Override
    public String toString() {
        return name;
    }
}
