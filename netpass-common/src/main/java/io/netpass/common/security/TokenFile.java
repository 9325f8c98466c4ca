package io.netpass.common.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bearer tokens kept in a file (a mounted Kubernetes Secret), one per line, {@code #} comments allowed. Read again
 * once the refresh interval passed, so a rotation takes effect without a restart; comparison is constant-time.
 */
public final class TokenFile {

    private static final Logger log = LoggerFactory.getLogger(TokenFile.class);

    private final Path path;
    private final long refreshNanos;
    private volatile List<byte[]> tokens = List.of();
    private volatile long readAtNanos;

    public TokenFile(Path path, Duration refresh) {
        this.path = path;
        this.refreshNanos = refresh.toNanos();
        reload();
        if (tokens.isEmpty()) {
            throw new IllegalStateException("token file " + path + " holds no token");
        }
    }

    /** Whether {@code presented} is one of the file's tokens. */
    public boolean accepts(String presented) {
        byte[] candidate = presented.getBytes(StandardCharsets.UTF_8);
        boolean match = false;
        for (byte[] token : current()) {
            match |= MessageDigest.isEqual(token, candidate);
        }
        return match;
    }

    /** The token this side presents: the file's first one. */
    public String first() {
        return new String(current().getFirst(), StandardCharsets.UTF_8);
    }

    private List<byte[]> current() {
        if (System.nanoTime() - readAtNanos > refreshNanos) {
            reload();
        }
        return tokens;
    }

    private synchronized void reload() {
        if (System.nanoTime() - readAtNanos <= refreshNanos && !tokens.isEmpty()) {
            return; // another thread just read it
        }
        try {
            List<byte[]> read = Files.readAllLines(path, StandardCharsets.UTF_8).stream()
                    .map(String::strip)
                    .filter(line -> !line.isEmpty() && !line.startsWith("#"))
                    .map(line -> line.getBytes(StandardCharsets.UTF_8))
                    .toList();
            if (!read.isEmpty()) {
                tokens = read;
            }
        } catch (IOException e) {
            // A Secret being swapped is briefly unreadable; the previous tokens stay valid until the next read.
            log.warn("cannot read token file {}: {}", path, e.getMessage());
        }
        readAtNanos = System.nanoTime();
    }
}
