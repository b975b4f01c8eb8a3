#!/usr/bin/env bash
# What the sample target's --heap-profile costs, sampled (tcmalloc's heap sample, an allocation
# per ~512 KiB) and exact (gperftools' heap profiler: a stack walk and a lock per allocation),
# against the same target without it in one invocation, in turns (plain, sampled, exact, ...),
# on loopback:
#  1. closed loop: maximum throughput and latency p50 / p99 (the target pinned to core 1, the
#     generator to core 0);
#  2. open loop at 400 req/s, as a campaign's API load runs: latency p50 / p99;
#  3. the target's RSS after the runs, and how long one GET /debug/pprof/heap takes.
# Usage: tests/bench/heap_profile_bench.sh [--duration 5s] [--rounds 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=5s rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
./tools/build.sh perfgate perfgate-sample-target >/dev/null
bin=$(pwd)/build/bin
dir=$(mktemp -d /tmp/perfgate-heapbench-XXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One measurement of a fresh target: "rps p50_us p99_us open_p50_us open_p99_us rss_kib heap_ms".
measure() {
  local flags=$1 port
  [ -n "$flags" ] && flags="--heap-profile $flags"
  port=$(free_port)
  # shellcheck disable=SC2086
  taskset -c 1 "$bin/perfgate-sample-target" --listen "127.0.0.1:$port" --threads 8 $flags \
    2>"$dir/target.log" &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local url="http://127.0.0.1:$port/api/items"
  taskset -c 0 "$bin/perfgate" -o json load "$url" --closed-loop --connections 16 \
    --duration "$duration" >"$dir/closed.json"
  taskset -c 0 "$bin/perfgate" -o json load "$url" --rate 400 --connections 16 \
    --duration "$duration" --max-generator-lag 50ms >"$dir/open.json"
  local rss heap_ms=-
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  if [ -n "$flags" ]; then
    heap_ms=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/debug/pprof/heap" |
      awk '{printf "%.1f", $1 * 1000}')
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo "$(field "$dir/closed.json" 'round(d["achieved_rate"])') \
$(field "$dir/closed.json" 'd["total"]["latency_us"]["p50"]') \
$(field "$dir/closed.json" 'd["total"]["latency_us"]["p99"]') \
$(field "$dir/open.json" 'd["total"]["latency_us"]["p50"]') \
$(field "$dir/open.json" 'd["total"]["latency_us"]["p99"]') $rss $heap_ms"
}

echo "== sample target without --heap-profile, sampled and exact, $rounds rounds in turns, $duration each load"
printf '  %-10s %8s %8s %8s %8s %8s %8s %8s\n' run "max rps" "p50 us" "p99 us" "@400 p50" "@400 p99" \
  "RSS KiB" "heap ms"
: >"$dir/plain" && : >"$dir/sampled" && : >"$dir/exact"
for r in $(seq 1 "$rounds"); do
  for mode in plain sampled exact; do
    flags=""; [ "$mode" != plain ] && flags=$mode
    line=$(measure "$flags")
    echo "$line" >>"$dir/$mode"
    # shellcheck disable=SC2086
    printf '  %-10s %8s %8s %8s %8s %8s %8s %8s\n' "$mode-$r" $line
  done
done
python3 - "$dir/plain" "$dir/sampled" "$dir/exact" <<'PY'
import statistics, sys
def cols(path):
    rows = [l.split() for l in open(path) if l.strip()]
    return [statistics.median(float(r[i]) for r in rows) for i in range(6)]
p, s, e = (cols(a) for a in sys.argv[1:4])
names = ["max throughput", "closed-loop p50", "closed-loop p99", "400 req/s p50", "400 req/s p99",
         "RSS"]
print("  medians: plain -> sampled (x plain) -> exact (x plain)")
for n, a, b, c in zip(names, p, s, e):
    print(f"    {n:16s} {a:9.0f} -> {b:9.0f} ({b / a:5.2f} x) -> {c:9.0f} ({c / a:5.2f} x)")
PY
