package io.netpass.agent.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.jspecify.annotations.Nullable;

/**
 * A throwaway certificate authority made at test time: its certificate and the certificates it issues are written as
 * PEM files, as a cert-manager Secret would mount them, for Spring Boot's PEM SSL bundles. Every certificate issued
 * names {@code 127.0.0.1} and {@code localhost}, and may serve and authenticate clients.
 */
public final class TestPki {

    private static final Duration VALIDITY = Duration.ofDays(2);
    private static final AtomicLong SERIALS = new AtomicLong(System.currentTimeMillis());

    private final Path directory;
    private final X500Name name;
    private final KeyPair keys;
    private final X509Certificate certificate;
    private final Path certificateFile;

    private TestPki(Path directory, X500Name name, KeyPair keys, X509Certificate certificate, Path certificateFile) {
        this.directory = directory;
        this.name = name;
        this.keys = keys;
        this.certificate = certificate;
        this.certificateFile = certificateFile;
    }

    /** A certificate issued by this authority, and where its PEM files are. */
    public record Issued(String commonName, X509Certificate certificate, X509Certificate issuer,
            PrivateKey privateKey, Path certificateFile, Path privateKeyFile) {
    }

    /** Creates authority {@code caName} with its files in {@code directory} ({@code caName-ca.crt}). */
    public static TestPki create(Path directory, String caName) {
        try {
            Files.createDirectories(directory);
            KeyPair keys = newKeys();
            X500Name name = new X500Name("CN=" + caName);
            X509v3CertificateBuilder builder = builder(name, name, keys);
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            X509Certificate certificate = sign(builder, keys.getPrivate());
            Path file = directory.resolve(caName + "-ca.crt");
            writePem(file, certificate);
            return new TestPki(directory, name, keys, certificate, file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The authority's certificate, what a trust store holds. */
    public Path certificateFile() {
        return certificateFile;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /**
     * Issues a certificate for {@code commonName} and writes it to {@code FILE.crt} and its key to {@code FILE.key}
     * (PKCS#8), replacing what was there: issuing again under the same file name is a rotation.
     */
    public Issued issue(String commonName, String file) {
        try {
            KeyPair leaf = newKeys();
            X509v3CertificateBuilder builder = builder(name, new X500Name("CN=" + commonName), leaf);
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                    new GeneralName(GeneralName.dNSName, "localhost")}));
            X509Certificate issued = sign(builder, keys.getPrivate());
            Path certificateFile = directory.resolve(file + ".crt");
            Path keyFile = directory.resolve(file + ".key");
            // Written beside and moved into place, as a Secret update swaps its files: a reader never sees half.
            writePem(keyFile, new JcaPKCS8Generator(leaf.getPrivate(), null));
            writePem(certificateFile, issued);
            return new Issued(commonName, issued, certificate, leaf.getPrivate(), certificateFile, keyFile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A client context (for {@link java.net.http.HttpClient}) trusting this authority only, presenting
     * {@code identity} (issued by this authority or another) when the server asks for a certificate (none if null).
     */
    public SSLContext clientContext(@Nullable Issued identity) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", certificate);
            TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(
                    TrustManagerFactory.getDefaultAlgorithm());
            trustManagers.init(trust);
            KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            KeyStore key = KeyStore.getInstance("PKCS12");
            key.load(null, null);
            char[] password = "test".toCharArray();
            if (identity != null) {
                key.setKeyEntry("client", identity.privateKey(), password,
                        new Certificate[] {identity.certificate(), identity.issuer()});
            }
            keyManagers.init(key, password);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keyManagers.getKeyManagers(), trustManagers.getTrustManagers(), new SecureRandom());
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static KeyPair newKeys() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(256);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static X509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair keys) {
        Instant now = Instant.now();
        return new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(SERIALS.incrementAndGet()),
                Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(VALIDITY)), subject,
                keys.getPublic());
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey issuerKey) {
        try {
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
        } catch (OperatorCreationException | GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void writePem(Path file, Object object) throws IOException {
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        try (Writer writer = Files.newBufferedWriter(partial); JcaPEMWriter pem = new JcaPEMWriter(writer)) {
            pem.writeObject(object);
        }
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
