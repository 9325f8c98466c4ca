package io.netpass.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The lab guest's kernel and initramfs, built (or found already built) by {@code lab/guest/build-guest.sh} in
 * {@code $NETPASS_LAB_CACHE} (default {@code /var/cache/netpass-lab}).
 *
 * @param kernel the Debian kernel image
 * @param initramfs the busybox initramfs with the virtio-net modules
 */
record GuestImage(Path kernel, Path initramfs) {

    static final String CACHE_VARIABLE = "NETPASS_LAB_CACHE";
    static final Path DEFAULT_CACHE = Path.of("/var/cache/netpass-lab");
    private static final Path SCRIPT = Path.of("lab", "guest", "build-guest.sh");
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(10);

    /** Runs the build script (a no-op when the cache is current) and returns the image. */
    static GuestImage build() {
        Path script = findScript();
        Path cache = cacheDirectory();
        Path log = null;
        try {
            log = Files.createTempFile("netpass-guest-build", ".log");
            ProcessBuilder builder = new ProcessBuilder("bash", script.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            builder.environment().put(CACHE_VARIABLE, cache.toString());
            Process process = builder.start();
            if (!process.waitFor(BUILD_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(script + " did not finish within " + BUILD_TIMEOUT);
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException(script + " failed (exit " + process.exitValue() + "):\n"
                        + Files.readString(log));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + script, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building the lab guest", e);
        } finally {
            if (log != null) {
                try {
                    Files.deleteIfExists(log);
                } catch (IOException e) {
                    // A stray log in /tmp is harmless.
                }
            }
        }
        return new GuestImage(cache.resolve("vmlinuz"), cache.resolve("initramfs.cpio.gz"));
    }

    private static Path cacheDirectory() {
        String configured = System.getenv(CACHE_VARIABLE);
        return configured == null || configured.isBlank() ? DEFAULT_CACHE : Path.of(configured);
    }

    /** The script sits at the repository root; tests run from a module directory. */
    private static Path findScript() {
        for (Path directory = Path.of("").toAbsolutePath(); directory != null; directory = directory.getParent()) {
            Path candidate = directory.resolve(SCRIPT);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException(SCRIPT + " not found above " + Path.of("").toAbsolutePath());
    }
}
