package io.netpass.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The lab's two bearer tokens, written to files as a Kubernetes Secret would mount them: the controller's (which
 * the lab presents when it arms agents) and the one agents present to each other.
 *
 * @param controller the controller token
 * @param controllerFile where it is written
 * @param peerFile where the peer token is written
 */
public record AgentTokens(String controller, Path controllerFile, Path peerFile) {

    /** Fresh random tokens in {@code directory}. */
    public static AgentTokens create(Path directory) {
        SecureRandom random = new SecureRandom();
        String controller = token(random);
        try {
            Path controllerFile = Files.writeString(directory.resolve("controller.token"), controller + "\n");
            Path peerFile = Files.writeString(directory.resolve("peer.token"), token(random) + "\n");
            return new AgentTokens(controller, controllerFile, peerFile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String token(SecureRandom random) {
        byte[] bytes = new byte[24];
        random.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
