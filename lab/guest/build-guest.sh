#!/usr/bin/env bash
# Builds the lab's tiny guest from Debian packages: the current Debian 12 kernel and a busybox initramfs that loads
# virtio-net, configures eth0 from the kernel command line and idles. The guest answers ICMP echo and, for UDP to a
# closed port, an ICMP port-unreachable that quotes the probe: both from its kernel, with no server in the guest.
#
# Output, in $NETPASS_LAB_CACHE (default /var/cache/netpass-lab): vmlinuz, initramfs.cpio.gz, kernel.version.
# Skips the build when they exist and were made by this very script (a changed script rebuilds).
#
# Kernel command line the guest understands (besides console=ttyS0 etc.):
#   netpass.ip=198.18.0.10/24     address of eth0
#   netpass.peer=198.18.0.1       a peer that gets a static neighbour entry (no ARP needed to answer it)
#   netpass.peermac=02:..:..      the peer's MAC
# It prints "netpass-guest: ready" on the console once eth0 is up.
set -euo pipefail

cache="${NETPASS_LAB_CACHE:-/var/cache/netpass-lab}"
script_sum="$(sha256sum "$0" | cut -d' ' -f1)"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if [ -f "$cache/vmlinuz" ] && [ -f "$cache/initramfs.cpio.gz" ] && [ "$(cat "$cache/build.sum" 2>/dev/null)" = "$script_sum" ]; then
  echo "guest already built in $cache ($(cat "$cache/kernel.version"))"
  exit 0
fi

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The package linux-image-amd64 always depends on the current ABI's image, e.g. linux-image-6.1.0-50-amd64.
current_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

work="$(mktemp -d /tmp/netpass-guest-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt fetches as the unprivileged _apt user, which must be able to write where it downloads.
mkdir -p download
chmod 755 "$work"
chown _apt download 2>/dev/null || true

kernel_package="$(current_kernel_package)"
# Stale package lists name a kernel the mirror no longer has: refresh them once and ask again.
if [ -z "$kernel_package" ] || ! (cd download && apt-get download -qq "$kernel_package" 2>/dev/null); then
  apt-get update -qq
  kernel_package="$(current_kernel_package)"
  [ -n "$kernel_package" ] || { echo "no linux-image-<version>-amd64 package found via apt-cache" >&2; exit 1; }
  (cd download && apt-get download -qq "$kernel_package")
fi
echo "downloaded $kernel_package"
# Only the kernel and the few modules are needed: extracting the whole package (as dpkg-deb -x does) would write
# ~400 MB for nothing, so the same data tarball is filtered.
mkdir pkg
dpkg-deb --fsys-tarfile download/"$kernel_package"_*.deb \
  | tar -x -C pkg --wildcards --no-anchored 'vmlinuz-*' 'virtio*' '*failover*' 'modules.builtin'
vmlinuz="$(ls pkg/boot/vmlinuz-*)"
modules_dir="$(ls -d pkg/lib/modules/*)"
kernel_version="$(basename "$modules_dir")"

# Load order from each module's depends=: dependencies first, each module once.
wanted=(virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci failover net_failover virtio_net)
mkdir -p root/lib/modules
declare -A seen=()
order=()

module_file() {
  find "$modules_dir/kernel" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" -o -name "$1.ko.gz" | head -n1
}

builtin_module() {
  grep -q "/$1.ko\$" "$modules_dir/modules.builtin" 2>/dev/null
}

add_module() {
  local name="${1//-/_}"
  [ -z "${seen[$name]:-}" ] || return 0
  seen[$name]=1
  local file
  file="$(module_file "$name")"
  if [ -z "$file" ]; then
    builtin_module "$name" && return 0
    echo "module $name is neither in $kernel_package nor built in" >&2
    exit 1
  fi
  # insmod in busybox cannot read compressed modules on every configuration: store them plain.
  case "$file" in
    *.xz) xz -dc "$file" >"root/lib/modules/$name.ko" ;;
    *.zst) zstd -qdc "$file" >"root/lib/modules/$name.ko" ;;
    *.gz) gzip -dc "$file" >"root/lib/modules/$name.ko" ;;
    *) cp "$file" "root/lib/modules/$name.ko" ;;
  esac
  local depends dep
  depends="$(tr '\0' '\n' <"root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1)"
  for dep in ${depends//,/ }; do
    add_module "$dep"
  done
  order+=("$name")
}

for module in "${wanted[@]}"; do
  add_module "$module"
done
printf '%s\n' "${order[@]}" >root/lib/modules/load.order

mkdir -p root/bin root/sbin root/proc root/sys root/dev root/tmp root/etc
cp /bin/busybox root/bin/busybox
cat >root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
exec >/dev/console 2>&1

for module in $(cat /lib/modules/load.order); do
  insmod "/lib/modules/$module.ko" || echo "netpass-guest: insmod $module failed"
done

ip= peer= peermac=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    netpass.ip=*) ip="${arg#netpass.ip=}" ;;
    netpass.peer=*) peer="${arg#netpass.peer=}" ;;
    netpass.peermac=*) peermac="${arg#netpass.peermac=}" ;;
  esac
done

tries=0
while [ ! -e /sys/class/net/eth0 ] && [ $tries -lt 100 ]; do
  sleep 0.1
  tries=$((tries + 1))
done

# Every probe must get its own reply: no per-peer ICMP rate limit, and a global budget far above the probe rate.
sysctl -qw net.ipv4.icmp_ratelimit=0
sysctl -qw net.ipv4.icmp_msgs_per_sec=1000000
sysctl -qw net.ipv4.icmp_msgs_burst=1000000

ip link set lo up
[ -n "$ip" ] && ip addr add "$ip" dev eth0
ip link set eth0 up
# busybox ip cannot add neighbours; arp can.
[ -n "$peer" ] && [ -n "$peermac" ] && arp -s "$peer" "$peermac"
echo "netpass-guest: ready ip=$ip mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"

while :; do
  sleep 3600
done
INIT
chmod +x root/init

(cd root && find . | cpio -o -H newc --quiet | gzip -9) >initramfs.cpio.gz

cp "$vmlinuz" "$cache/vmlinuz.new"
mv initramfs.cpio.gz "$cache/initramfs.cpio.gz.new"
mv "$cache/vmlinuz.new" "$cache/vmlinuz"
mv "$cache/initramfs.cpio.gz.new" "$cache/initramfs.cpio.gz"
echo "$kernel_version" >"$cache/kernel.version"
echo "$script_sum" >"$cache/build.sum"
echo "guest built in $cache: kernel $kernel_version, modules ${order[*]}"
