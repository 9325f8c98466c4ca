package io.netpass.agent.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.testing.AgentApi;
import io.netpass.agent.testing.AgentProcess;
import io.netpass.agent.testing.TestPki;
import reactor.netty.http.HttpProtocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An agent serving its API over TLS with client certificates required: it speaks HTTP/2 by ALPN, refuses
 * plaintext and h2c clients, clients that trust another CA, clients without a certificate or with one from another
 * CA; a client certificate named as the controller or as a peer stands in for that role's token; a rotated
 * certificate is served without a restart.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class AgentTlsIT {

    private static final Path WORK = Path.of("target", "it-agents", "AgentTlsIT");
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private static TestPki pki;
    private static TestPki otherPki;
    private static TestPki.Issued controller;
    private static AgentProcess agent;

    @BeforeAll
    static void start() {
        pki = TestPki.create(WORK.resolve("pki"), "netpass-test");
        otherPki = TestPki.create(WORK.resolve("other-pki"), "someone-else");
        AgentProcess.Tls tls = AgentProcess.Tls.by(pki, true);
        controller = tls.controller();
        agent = AgentProcess.start("a", WORK, tls,
                "--netpass.agent.security.controller-certificate-name=netpass-controller",
                "--netpass.agent.security.peer-certificate-name=netpass-agent-.+");
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            try {
                agent.assertNoLeaks();
            } finally {
                agent.close();
            }
        }
    }

    @Test
    void servesHttp2ByAlpnToAClientThatTrustsItsCa() throws Exception {
        HttpClient http2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2)
                .sslContext(pki.clientContext(controller)).build();
        HttpResponse<String> response = http2.send(HttpRequest.newBuilder(agent.baseUri().resolve("/v1/sessions"))
                .header("Authorization", "Bearer " + agent.controllerToken()).timeout(TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(agent.api().sessions()).isEmpty();
    }

    @Test
    void refusesPlaintextAndH2cClients() {
        URI plaintext = URI.create("http://127.0.0.1:" + agent.apiPort() + "/v1/sessions");
        HttpClient http11 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        assertThatThrownBy(() -> http11.send(HttpRequest.newBuilder(plaintext)
                .header("Authorization", "Bearer " + agent.controllerToken()).timeout(TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);

        assertThatThrownBy(() -> reactor.netty.http.client.HttpClient.create().protocol(HttpProtocol.H2C)
                .headers(headers -> headers.set("Authorization", "Bearer " + agent.controllerToken()))
                .get().uri(plaintext.toString()).responseContent().aggregate().asString().block(TIMEOUT))
                .as("h2c with prior knowledge: the connection is closed, not left hanging")
                .isNotNull().hasMessageNotContaining("Timeout on blocking read");
    }

    @Test
    void refusesAServerCertificateFromAnotherCaAndAClientCertificateFromAnotherCa() {
        AgentApi trustingAnotherCa = new AgentApi(agent.baseUri(), agent.controllerToken(),
                otherPki.clientContext(otherPki.issue("netpass-controller", "other-controller")));
        assertThatThrownBy(trustingAnotherCa::sessions).as("the agent's certificate is not from the client's CA")
                .isInstanceOf(UncheckedIOException.class);
        assertThat(handshakeFails(pki.clientContext(otherPki.issue("netpass-controller", "other-controller-2"))))
                .as("a client certificate from another CA").isTrue();
        assertThat(handshakeFails(pki.clientContext(controller))).as("the same client with its own CA's").isFalse();
    }

    @Test
    void refusesAClientWithoutCertificate() {
        assertThat(handshakeFails(pki.clientContext(null))).isTrue();
        AgentApi withoutCertificate = new AgentApi(agent.baseUri(), agent.controllerToken(), pki.clientContext(null));
        assertThatThrownBy(withoutCertificate::sessions).isInstanceOf(UncheckedIOException.class);
    }

    @Test
    void aClientCertificateStandsInForItsRolesTokenOnly() {
        TestPki.Issued peer = pki.issue("netpass-agent-z", "peer-z");
        TestPki.Issued stranger = pki.issue("not-a-netpass-name", "stranger");
        AgentApi controllerByCertificate = new AgentApi(agent.baseUri(), null,
                pki.clientContext(controller));
        AgentApi peerByCertificate = new AgentApi(agent.baseUri(), null, pki.clientContext(peer));
        AgentApi strangerByCertificate = new AgentApi(agent.baseUri(), null, pki.clientContext(stranger));

        assertThat(controllerByCertificate.request("GET", AgentApi.SESSIONS, AgentApi.SESSIONS, null).status())
                .isEqualTo(200);
        assertThat(peerByCertificate.request("GET", AgentApi.SESSIONS, AgentApi.SESSIONS, null).status())
                .as("a peer may not list sessions").isEqualTo(403);
        assertThat(peerByCertificate.pull("m-none", -1).status()).as("a peer may pull (none here)").isEqualTo(404);
        assertThat(controllerByCertificate.pull("m-none", -1).status()).as("the controller may not pull")
                .isEqualTo(403);
        assertThat(strangerByCertificate.request("GET", AgentApi.SESSIONS, AgentApi.SESSIONS, null).status())
                .as("a certificate of the CA whose name grants no role").isEqualTo(401);
        assertThat(peerByCertificate.withToken("guess").request("GET", AgentApi.SESSIONS, AgentApi.SESSIONS, null)
                .status()).as("a token presented decides, whatever the certificate").isEqualTo(401);
    }

    @Test
    void servesARotatedCertificateWithoutRestart() {
        BigInteger before = servedCertificate().getSerialNumber();
        TestPki.Issued rotated = pki.issue("netpass-agent-a", "agent-a");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!servedCertificate().getSerialNumber().equals(rotated.certificate().getSerialNumber())) {
            assertThat(System.nanoTime()).as("rotated certificate served within 30 s").isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
        }
        assertThat(rotated.certificate().getSerialNumber()).isNotEqualTo(before);
        assertThat(agent.api().sessions()).as("the API still answers over the new certificate").isEmpty();
        assertThat(agent.alive()).isTrue();
    }

    /** Whether a TLS handshake (plus one read, where TLS 1.3 reports a refused client certificate) fails. */
    private static boolean handshakeFails(SSLContext context) {
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", agent.apiPort())) {
            socket.setSoTimeout(5_000);
            socket.startHandshake();
            socket.getOutputStream().write("GET /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
            socket.getOutputStream().flush();
            return socket.getInputStream().read() < 0;
        } catch (IOException e) {
            return true;
        }
    }

    private static X509Certificate servedCertificate() {
        try (SSLSocket socket = (SSLSocket) pki.clientContext(controller).getSocketFactory()
                .createSocket("127.0.0.1", agent.apiPort())) {
            socket.startHandshake();
            return (X509Certificate) socket.getSession().getPeerCertificates()[0];
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
