#!/usr/bin/env bash
# Builds netpass's local Java base image without any container registry: a minimal Debian root file system from
# Debian's own packages (debootstrap, from the mirror this machine's apt uses) plus a jlinked Java runtime made from
# the Temurin 25 JDK installed here, imported into Docker as one layer. It stands in for eclipse-temurin:25-jre (same
# JAVA_HOME and PATH), which cannot be pulled where no registry is reachable.
#
#   images/base/build-base-image.sh [IMAGE]      default IMAGE: netpass/jre-base:25
#
# Cached: the image carries a label with a digest of its inputs (this script, the JDK's release file, the Debian
# suite and mirror); when an image of that name with that digest exists, nothing is built. Needs root (debootstrap),
# debootstrap and a running Docker daemon. Environment: JAVA_HOME (default /usr/lib/jvm/temurin-25-jdk-amd64),
# SUITE (default: this machine's Debian codename), MIRROR (default: read from /etc/apt/sources.list.d/*.sources).
set -euo pipefail

image=${1:-netpass/jre-base:25}
java_home=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
suite=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
# What the two services use, by `jdeps --print-module-deps` over their runnable jars (the same list for both), plus
# jdk.naming.dns, which JNDI DNS lookups load by name.
modules=java.base,java.compiler,java.desktop,java.instrument,java.naming,java.net.http,java.prefs,java.scripting,java.sql,jdk.jfr,jdk.management,jdk.unsupported,jdk.naming.dns
label=io.netpass.base.inputs

# The main archive's mirror as apt here sees it: the first URIs of a deb822 stanza whose Suites list the suite itself.
apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (uris != "" && found) { print uris; exit } uris = ""; found = 0; next }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
      END { if (uris != "" && found) print uris }' "$file"
  done | head -n 1
}

mirror=${MIRROR:-$(apt_mirror)}
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

[ -x "$java_home/bin/jlink" ] || { echo "no jlink in $java_home (set JAVA_HOME to a Temurin 25 JDK)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap not installed (apt-get install debootstrap)" >&2; exit 1; }

inputs=$( { cat "$0"; cat "$java_home/release"; echo "$suite $mirror"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)" = "$inputs" ]; then
  echo "base image $image is up to date ($inputs)"
  exit 0
fi

work=$(mktemp -d /var/tmp/netpass-base-XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

echo "base image $image: debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# Nothing in the image runs apt: its caches and lists are dead weight.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*

echo "base image $image: jlink $(. "$java_home/release" && echo "$IMPLEMENTOR_VERSION $JAVA_RUNTIME_VERSION")"
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --compress=zip-6 --generate-cds-archive --output "$rootfs/opt/java/openjdk"

tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV JAVA_HOME=/opt/java/openjdk' \
  --change 'ENV PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL $label=$inputs" \
  --change 'LABEL org.opencontainers.image.description="Debian minbase with a jlinked Temurin 25 runtime"' \
  - "$image" >/dev/null
echo "base image $image built ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1000000 }'))"
