package io.netpass.agent.discovery;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Samples captured on kernel 6.18 from QEMU 7.2's descriptors (/proc/PID/fdinfo/N). */
class FdInfoTest {

    @Test
    void aTunDescriptorNamesItsTap() throws IOException {
        assertThat(FdInfo.tunInterface(sample("fdinfo-qemu-tap.txt"))).contains("tapprobe0");
    }

    @Test
    void otherDescriptorsNameNoTap() throws IOException {
        assertThat(FdInfo.tunInterface(sample("fdinfo-eventfd.txt"))).isEmpty();
        assertThat(FdInfo.tunInterface("pos:\t0\nflags:\t0104002\niff:\t\n")).isEmpty();
    }

    private static String sample(String name) throws IOException {
        try (InputStream in = Objects.requireNonNull(FdInfoTest.class.getResourceAsStream("/discovery/" + name))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
