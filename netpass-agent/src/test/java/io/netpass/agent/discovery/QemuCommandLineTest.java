package io.netpass.agent.discovery;

import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class QemuCommandLineTest {

    @Test
    void readsLibvirtsJsonNetdevsAndDevicesWithTheirDescriptorsAndMacs() {
        // The shape libvirt 8+ writes (tests/qemuxmlconfdata/*.x86_64-latest.args), vhost and multiqueue included.
        QemuCommandLine commandLine = QemuCommandLine.parse(List.of(
                "/usr/bin/qemu-system-x86_64",
                "-name", "guest=web-1,debug-threads=on",
                "-machine", "pc-q35-7.2,usb=off,dump-guest-core=off",
                "-netdev", "{\"type\":\"tap\",\"fd\":\"73\",\"vhost\":true,\"vhostfd\":\"75\",\"id\":\"hostnet0\"}",
                "-device", "{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\","
                        + "\"mac\":\"52:54:00:E5:48:58\",\"bus\":\"pci.1\",\"addr\":\"0x0\"}",
                "-netdev", "{\"type\":\"tap\",\"fds\":\"80:81\",\"id\":\"hostnet1\"}",
                "-device", "{\"driver\":\"virtio-net-pci\",\"mq\":true,\"netdev\":\"hostnet1\",\"id\":\"net1\","
                        + "\"mac\":\"52:54:00:e5:48:59\"}",
                "-device", "{\"driver\":\"virtio-blk-pci\",\"drive\":\"libvirt-1-format\",\"id\":\"virtio-disk0\"}"));

        assertThat(commandLine.guestName()).isEqualTo("web-1");
        assertThat(commandLine.taps()).containsOnlyKeys("hostnet0", "hostnet1");
        assertThat(commandLine.taps().get("hostnet0").fds()).containsExactly(73);
        assertThat(commandLine.taps().get("hostnet1").fds()).containsExactly(80, 81);
        assertThat(commandLine.devices()).containsExactly(
                new QemuCommandLine.NetDevice("hostnet0", "52:54:00:e5:48:58"),
                new QemuCommandLine.NetDevice("hostnet1", "52:54:00:e5:48:59"));
    }

    @Test
    void readsKeyValueOptionsWithIfnameAndEscapedCommas() {
        QemuCommandLine commandLine = QemuCommandLine.parse(List.of(
                "qemu-system-x86_64",
                "--name", "guest=a,,b,process=qemu:a",
                "-netdev", "tap,id=n0,ifname=vnet7,script=no,downscript=no,vhost=off",
                "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=",
                "-netdev", "user,id=u0",
                "-device", "e1000,netdev=u0",
                "-netdev", "tap,fd=23,id=hostnet9",
                "-device", "rtl8139,netdev=hostnet9"));

        assertThat(commandLine.guestName()).isEqualTo("a,b");
        assertThat(commandLine.taps().get("n0")).isEqualTo(new QemuCommandLine.TapBackend("n0", List.of(), "vnet7"));
        assertThat(commandLine.taps().get("hostnet9").fds()).containsExactly(23);
        assertThat(commandLine.taps()).doesNotContainKey("u0");
        assertThat(commandLine.devices()).containsExactly(
                new QemuCommandLine.NetDevice("n0", "52:54:00:12:34:56"),
                new QemuCommandLine.NetDevice("u0", null),
                new QemuCommandLine.NetDevice("hostnet9", null));
    }

    @Test
    void aBareNameIsTheGuestName() {
        assertThat(QemuCommandLine.parse(List.of("qemu-kvm", "-name", "np-abc-source")).guestName())
                .isEqualTo("np-abc-source");
        assertThat(QemuCommandLine.parse(List.of("qemu-kvm", "-m", "128")).guestName()).isNull();
    }

    @Test
    void namedDescriptorsAndBrokenJsonYieldNothingRatherThanAWrongTap() {
        QemuCommandLine commandLine = QemuCommandLine.parse(List.of(
                "qemu-system-x86_64",
                "-netdev", "tap,fd=hostnet0-fd,id=hostnet0",
                "-netdev", "{\"type\":\"tap\",\"fd\":",
                "-device", "virtio-net-pci,netdev=hostnet0,mac=52:54:00:00:00:01",
                "-netdev"));

        assertThat(commandLine.taps().get("hostnet0").fds()).isEmpty();
        assertThat(commandLine.taps()).hasSize(1);
    }
}
