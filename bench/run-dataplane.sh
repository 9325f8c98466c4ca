#!/usr/bin/env bash
# Builds netpass-bench and runs the agent data-plane benchmarks; figures go to stdout and bench/results/.
# Needs root (network namespaces, taps). Usage:
#   bench/run-dataplane.sh [capture|injection|buffer|all] [key=value ...]
# e.g. bench/run-dataplane.sh capture sizes=64 repetitions=3
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
  # A fixed heap keeps GC sizing out of the figures; kept frames live off-heap (direct memory).
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xms512m -Xmx512m -XX:MaxDirectMemorySize=2g \
    -cp "$classpath" "io.netpass.bench.$main" "$@" | tee -a "$out"
}

case "$which" in
  capture) run CaptureRateBenchmark "$@" ;;
  injection) run InjectionRateBenchmark "$@" ;;
  buffer) run BufferOverheadBenchmark "$@" ;;
  all)
    run BufferOverheadBenchmark "$@"
    run InjectionRateBenchmark "$@"
    run CaptureRateBenchmark "$@"
    ;;
  *) echo "usage: $0 [capture|injection|buffer|all] [key=value ...]" >&2; exit 2 ;;
esac
