package io.netpass.agent.migration;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.netpass.agent.capture.ArmedTaps;
import io.netpass.agent.capture.CaptureProperties;
import io.netpass.agent.capture.TapLocation;
import io.netpass.agent.stream.FinalCountDatagrams;
import io.netpass.agent.stream.FinalCountProperties;
import io.netpass.agent.stream.PeerClient;
import io.netpass.agent.testing.EthernetAddress;
import io.netpass.agent.testing.Host;
import io.netpass.agent.testing.NamespaceLab;

import static org.assertj.core.api.Assertions.assertThat;

/** A side armed by a controller that never comes back is disarmed by the agent itself. */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class ArmedTimeoutIT {

    @Test
    void aSourceNeverReleasedIsDisarmedAfterTheArmedTimeout() throws Exception {
        ForwardingProperties defaults = ForwardingProperties.defaults();
        ForwardingProperties shortArm = new ForwardingProperties(defaults.quietPeriod(), defaults.deadline(),
                defaults.batchFrames(), defaults.reconnectWindow(), defaults.readsAccountedTimeout(),
                defaults.injectionHeadroom(), defaults.injectionStallTimeout(), defaults.streamIdleTimeout(),
                Duration.ofMillis(500), defaults.forwardFrameHeldByVmm(), defaults.forwardAheadAfter(),
                defaults.stagingCapacity(), defaults.releasePathNice(),
                defaults.burstRealTimePriority(), defaults.burstRealTimeLimit());
        CaptureProperties capture = CaptureProperties.defaults();
        try (NamespaceLab lab = new NamespaceLab();
                FinalCountDatagrams datagrams = new FinalCountDatagrams(new FinalCountProperties(false, 0));
                MigrationSessions sessions = new MigrationSessions(new ArmedTaps(capture), capture, shortArm,
                        new PeerClient(() -> "unused"), datagrams)) {
            Host host = lab.host("src");
            host.startVm("tapt0", EthernetAddress.of("52:54:00:6e:73:01"));
            TapLocation tap = new TapLocation(host.namespace().path(), "tapt0");
            sessions.armSource("m-forgotten", tap, List.of("52:54:00:6e:73:01"));
            assertThat(sessions.sources()).hasSize(1);

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!sessions.sources().isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(sessions.sources()).as("disarmed by the agent after the armed timeout").isEmpty();
            // The tap is free again: it can be armed anew.
            sessions.armSource("m-next", tap, List.of("52:54:00:6e:73:01"));
            assertThat(sessions.sources()).hasSize(1);
        }
    }
}
