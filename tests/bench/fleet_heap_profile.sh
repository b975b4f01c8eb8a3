#!/usr/bin/env bash
# Where the controller's memory per connected agent goes: the controller run under heaptrack
# while dispatch_bench connects N simulated agents (each its own connection and Session stream),
# then heaptrack's largest peak consumers. The README's per-connection breakdown ("The store at
# fleet scale") comes from this.
# Usage: tests/bench/fleet_heap_profile.sh [AGENTS (default 1000)]   needs heaptrack (apt)
set -euo pipefail
cd "$(dirname "$0")/../.."
agents=${1:-1000}
command -v heaptrack_print >/dev/null || { echo "needs heaptrack: apt-get install heaptrack" >&2; exit 2; }
./tools/build.sh perfgate-controller dispatch_bench >/dev/null
bin=$(pwd)/build/bin
wrap=$(mktemp -d /tmp/perfgate-heaptrack-XXXX)
trap 'rm -rf "$wrap"' EXIT
# dispatch_bench starts BIN_DIR/perfgate-controller: here, the real one under heaptrack.
printf '#!/bin/sh\nexec heaptrack -o %s/controller %s/perfgate-controller "$@"\n' "$wrap" "$bin" \
  > "$wrap/perfgate-controller"
chmod +x "$wrap/perfgate-controller"
# (Its own RSS figures are of the wrapper's shell here: ignored.)
"$bin/dispatch_bench" --bin-dir "$wrap" --jobs 200 --agents 2 --connected-agents "$agents" \
  --latency-samples 10 >/dev/null
sleep 2  # heaptrack finishes writing after the controller exits
echo "the controller's largest peak heap consumers with $agents agents connected:"
heaptrack_print -f "$wrap"/controller.*zst --print-peaks 1 --print-allocators 0 \
  --print-temporary 0 --print-leaks 0 -n 12 -s 0 2>/dev/null |
  grep -E -A1 "peak memory consumed over|^peak heap" | grep -v -- "^--$"
