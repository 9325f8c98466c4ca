package io.netpass.controller.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpMethod;

import io.netpass.controller.testing.ControllerLab;
import io.netpass.controller.testing.RunningController;

class TokenRotationIT {

    @TempDir
    Path directory;

    @Test
    void aRotatedCallerTokenTakesEffectWithoutARestart() throws Exception {
        try (ControllerLab lab = new ControllerLab(directory)) {
            RunningController controller = lab.start();
            assertThat(controller.call(HttpMethod.GET, "/v1/agents", null).status()).isEqualTo(200);
            Path tokens = directory.resolve("caller-tokens");
            Path swap = directory.resolve("caller-tokens.new");
            Files.writeString(swap, "rotated-token\n");
            Files.move(swap, tokens, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Thread.sleep(400); // token-refresh is 200ms in tests
            assertThat(controller.call(HttpMethod.GET, "/v1/agents", null).status()).isEqualTo(401);
            assertThat(controller.call(HttpMethod.GET, "/v1/agents", null, "rotated-token", Map.of()).status())
                    .isEqualTo(200);
            assertThat(lab.recorder().violations()).isEmpty();
        }
    }
}
