#!/usr/bin/env bash
# The migration benchmark of docs/performance.md: real QEMU live migrations at 1,000 and 10,000 probes/s, ICMP echo
# and UDP, without and with netpass, RUNS times each (default 10), printed as a markdown table of medians and worst
# cases and written to bench/results/migrations.md. Needs root; takes about RUNS × 8 × 12 s.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-10}"
mkdir -p bench/results
exec lab/demo.sh --runs "$runs" --rates 1000,10000 --kinds icmp,udp --markdown "$PWD/bench/results/migrations.md"
