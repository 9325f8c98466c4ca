#!/usr/bin/env bash
# Builds netpass-bench and runs the agent-service benchmarks of docs/performance.md ("Agent service: release latency
# and stream throughput"); figures go to stdout and bench/results/. Needs root (namespaces, taps, agent JVMs).
# Usage:
#   bench/run-release.sh [latency|throughput|all] [key=value ...]
# e.g. bench/run-release.sh latency frames=2000 cold=5 warmup=5 warm=10
#      bench/run-release.sh throughput frames=150000 pulls=7
set -euo pipefail
cd "$(dirname "$0")/.."

export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
which=${1:-all}
shift || true

./mvnw -B -o -q -pl bench -am -DskipTests package
classpath="bench/target/netpass-bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/classpath)"
mkdir -p bench/results

run() {
  local main=$1
  shift
  local out="bench/results/${main}-$(date -u +%Y%m%dT%H%M%SZ).txt"
  echo "## $main $* (uptime: $(uptime))" | tee "$out"
  # The agents are child JVMs on this classpath (AgentProcess); this JVM is the controller, the fake VMs and, for
  # throughput, the pulling peer.
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xms512m -Xmx512m -XX:MaxDirectMemorySize=2g \
    -cp "$classpath" "io.netpass.bench.$main" "$@" | tee -a "$out"
}

case "$which" in
  latency) run ReleaseLatencyBenchmark "$@" ;;
  throughput) run StreamThroughputBenchmark "$@" ;;
  all)
    run StreamThroughputBenchmark "$@"
    run ReleaseLatencyBenchmark "$@"
    ;;
  *) echo "usage: $0 [latency|throughput|all] [key=value ...]" >&2; exit 2 ;;
esac
