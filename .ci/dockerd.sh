#!/usr/bin/env bash
# Starts Docker's daemon (Debian's docker.io) unless one already answers, and waits until it does.
#   .ci/dockerd.sh start PIDFILE   prints nothing; writes the daemon's pid to PIDFILE only if it started one
#   .ci/dockerd.sh stop PIDFILE    stops the daemon named in PIDFILE (only one this script started), if any
# A machine of this kind has no systemd running and no daemon at first; a developer's machine may have one, which
# is then used and left alone.
set -euo pipefail

action=${1:?start or stop}
pidfile=${2:?pid file}
log=/var/log/netpass-dockerd.log

case "$action" in
  start)
    rm -f "$pidfile"
    if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io)" >&2; exit 1; }
    setsid dockerd >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && exit 0
      kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "dockerd exited; see $log" >&2; rm -f "$pidfile"; exit 1; }
      sleep 0.5
    done
    echo "dockerd not answering after 60 s; see $log" >&2
    exit 1
    ;;
  stop)
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    rm -f "$pidfile"
    kill -TERM "$pid" 2>/dev/null || exit 0
    # dockerd stops its containers first (10 s each at most), then exits.
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.5
    done
    echo "dockerd $pid still running after 60 s" >&2
    exit 1
    ;;
  *)
    echo "usage: $0 start|stop PIDFILE" >&2
    exit 2
    ;;
esac
