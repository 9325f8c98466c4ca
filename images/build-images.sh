#!/usr/bin/env bash
# Builds the agent and controller images from the runnable jars of `./mvnw package`:
#   netpass/agent:VERSION and netpass/controller:VERSION
# on BASE_IMAGE (default netpass/jre-base:25, built by images/base/build-base-image.sh when it is missing or out of
# date; any other base, e.g. eclipse-temurin:25-jre, must be pullable or present). The images module's integration
# tests run this from Maven (pre-integration-test), so `./mvnw verify` builds the images it tests.
#
#   images/build-images.sh [VERSION]     default VERSION: the project version in the root pom.xml
#
# Environment: BASE_IMAGE, IMAGE_PREFIX (default netpass/). Needs a running Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

# The project's own version: the first <version> outside <parent> in the root pom.
version=${1:-$(awk '/<parent>/,/<\/parent>/ { next } /<version>/ { gsub(/.*<version>|<\/version>.*/, ""); print; exit }' pom.xml)}
base=${BASE_IMAGE:-netpass/jre-base:25}
prefix=${IMAGE_PREFIX:-netpass/}

agent_jar=netpass-agent/target/netpass-agent-$version-exec.jar
controller_jar=netpass-controller/target/netpass-controller-$version.jar
for jar in "$agent_jar" "$controller_jar"; do
  [ -f "$jar" ] || { echo "$jar not built: run ./mvnw -DskipTests package first" >&2; exit 1; }
done

docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || { echo "no Docker daemon answers: start one (e.g. .ci/dockerd.sh start PIDFILE), or skip with -DskipITs" >&2; exit 1; }

if [ "$base" = netpass/jre-base:25 ]; then
  images/base/build-base-image.sh "$base"
fi

build() {
  local name=$1 jar=$2 started=$SECONDS
  # The build's output is kept for a failure only: the legacy builder is chatty and Maven's log is long enough.
  local log
  log=$(mktemp)
  if ! docker build --pull=false --build-arg "BASE_IMAGE=$base" --build-arg "JAR=$jar" \
      --label "org.opencontainers.image.version=$version" \
      -f "images/$name/Dockerfile" -t "$prefix$name:$version" . >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  echo "image $prefix$name:$version built on $base in $((SECONDS - started)) s"
}

build agent "$agent_jar"
build controller "$controller_jar"
# Earlier builds of the same tag and the builds' first stages leave untagged images behind; they would fill the disk
# of a machine that builds often.
docker image prune --force --filter label=io.netpass.image >/dev/null
