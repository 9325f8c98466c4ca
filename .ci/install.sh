#!/usr/bin/env bash
# Installs on a fresh Debian machine what the build and the tests need. Safe to run again.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
command -v curl >/dev/null || need+=(curl)   # the libvirt hook (LibvirtHookIT)
# The images module: Docker's daemon (Debian's, since no registry is reachable for another) and debootstrap for the
# local base image.
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v capsh >/dev/null || need+=(libcap2-bin)     # AgentCapabilitiesIT: the agent with only the chart's capabilities
command -v openssl >/dev/null || need+=(openssl)       # RenderedConfigurationIT: certificates for the chart's TLS wiring
[ -d /usr/lib/jvm/temurin-25-jdk-amd64 ] || { echo "Java 25 (Temurin) is expected at /usr/lib/jvm/temurin-25-jdk-amd64" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
# DashboardIT starts a Prometheus of its own (own configuration, data directory and port). The package's service must
# not start (policy-rc.d, unless one is already in place), and its recommends (node exporter and more) are not wanted.
if ! command -v prometheus >/dev/null; then
  apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  added_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
  if $added_policy; then rm -f "$policy"; fi
fi
modprobe tun 2>/dev/null || true
[ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200; }
