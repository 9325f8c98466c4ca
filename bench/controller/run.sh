#!/usr/bin/env bash
# Controller benchmark: N concurrent migrations (default 200) against simulated agents on H hosts (default 10).
# The controller runs in a child JVM with its production defaults; figures go to docs/performance.md ("Controller").
#   bench/controller/run.sh [N] [H]
set -euo pipefail
cd "$(dirname "$0")/../.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
./mvnw -B -o -q -pl netpass-controller -am test-compile
./mvnw -B -o -q -pl netpass-controller dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/bench-classpath.txt
cp="netpass-controller/target/test-classes:netpass-controller/target/classes:$(cat netpass-controller/target/bench-classpath.txt)"
exec "$JAVA_HOME/bin/java" -cp "$cp" io.netpass.controller.bench.ControllerBenchmark "${1:-200}" "${2:-10}"
