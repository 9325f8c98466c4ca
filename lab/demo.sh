#!/usr/bin/env bash
# The main job: live-migrates a real QEMU guest without netpass and with it, and prints what was lost.
# Needs root (namespaces, taps) on Debian. Extra arguments go to io.netpass.lab.MigrationDemo, e.g. --runs 5.
set -euo pipefail
cd "$(dirname "$0")/.."

export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export PATH="$JAVA_HOME/bin:$PATH"

bash .ci/install.sh
trap 'bash .ci/cleanup-lab.sh' EXIT
bash lab/guest/build-guest.sh >/dev/null

echo "Building netpass ..."
./mvnw -B -q -ntp -DskipTests install
./mvnw -B -q -ntp -pl netpass-lab dependency:build-classpath -Dmdep.outputFile=target/classpath.txt

java --enable-native-access=ALL-UNNAMED \
  -Dnetpass.agent.jar=netpass-agent/target/netpass-agent-0.1.0-SNAPSHOT-exec.jar \
  -cp "netpass-lab/target/classes:$(cat netpass-lab/target/classpath.txt)" \
  io.netpass.lab.MigrationDemo "$@"
