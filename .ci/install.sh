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
[ -d /usr/lib/jvm/temurin-25-jdk-amd64 ] || { echo "Java 25 (Temurin) is expected at /usr/lib/jvm/temurin-25-jdk-amd64" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
modprobe tun 2>/dev/null || true
[ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200; }
