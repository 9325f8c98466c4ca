#!/usr/bin/env bash
# Removes what crashed or interrupted test runs left behind: namespace-lab namespaces (np-*), lab QEMUs (a
# qemu-system-* process with "netpass-lab" in its arguments), and Testcontainers' containers and networks (label
# org.testcontainers=true) when a Docker daemon answers. Run it only while no test run is going on; it touches nothing
# else and always succeeds.
set -uo pipefail

for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case "$ns" in
    np-*) ip netns delete "$ns" || echo "cleanup-lab: cannot delete namespace $ns" >&2 ;;
  esac
done

# Matched by executable and arguments together, so no other process can be hit by a loose name match.
lab_qemus() {
  local dir exe
  for dir in /proc/[0-9]*; do
    exe=$(readlink "$dir/exe" 2>/dev/null) || continue
    case "${exe##*/}" in
      qemu-system-*) ;;
      *) continue ;;
    esac
    if tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -q -- 'netpass-lab'; then
      echo "${dir#/proc/}"
    fi
  done
}

pids=$(lab_qemus)
if [ -n "$pids" ]; then
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 30); do
    [ -z "$(lab_qemus)" ] && break
    sleep 0.1
  done
  pids=$(lab_qemus)
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
fi
rm -rf /tmp/netpass-lab-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]  # QemuLab's sockets and logs

# The images tests run without Ryuk (its image cannot be pulled here), so nothing else removes what a killed run left.
if command -v docker >/dev/null && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  containers=$(docker ps -aq --filter label=org.testcontainers=true)
  # shellcheck disable=SC2086
  [ -n "$containers" ] && docker rm -f $containers >/dev/null
  networks=$(docker network ls -q --filter label=org.testcontainers=true)
  # shellcheck disable=SC2086
  [ -n "$networks" ] && docker network rm $networks >/dev/null
fi
exit 0
