#!/usr/bin/env bash
# The built-in load generator against wrk, on nginx from Debian, on loopback, in one
# invocation (ratios, not absolute numbers, are what compare across machines):
#  1. closed-loop maximum throughput: perfgate load vs wrk, same connections, 1 thread, both
#     pinned to core 0 (nginx, one worker, pinned to core 1);
#  2. open loop at 50 % and 80 % of wrk's maximum: achieved/target, scheduling-delay p99 (intended
#     start -> write, including waits for a free connection while all 32 are busy on nginx) and
#     generator-lag p99 (from when a request could first be sent -> write: the generator's own
#     lateness);
#  3. the generator's RSS sampled over a soak run (default 10 minutes; --soak 60s for a quick one);
#  4. at a low rate, as benchmark suites run (the sample target with 1 ms of CPU work a request
#     at 400 req/s, nothing pinned, as on an agent): the generator's CPU, its lag and the SUT's
#     latency, sleeping on the pacer's learnt spin window against the old fixed 1 ms poll
#     (--spin-window 1ms), in turns, 3 runs each.
# Usage: tests/bench/load_bench.sh [--connections 32] [--duration 10s] [--soak 600s]
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=32 duration=10s soak=600s
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --soak) soak=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
./tools/install-deps.sh --test
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light wrk >/dev/null; }
./tools/build.sh perfgate perfgate-sample-target >/dev/null
bin=$(pwd)/build/bin
dir=$(mktemp -d /tmp/perfgate-loadbench-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 10;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server { listen 127.0.0.1:$port; location / { return 200 "perfgate load benchmark\n"; } }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/"
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }

echo "== closed loop, $conns connections, 1 thread, pinned to core 0 (nginx on core 1), $duration each"
wrk_rps=$(taskset -c 0 wrk -t1 -c"$conns" -d"$duration" "$url" | awk '/Requests\/sec/ {print $2}')
taskset -c 0 "$bin/perfgate" -o json load "$url" --closed-loop --connections "$conns" --threads 1 \
  --duration "$duration" > "$dir/closed.json"
pg_rps=$(field "$dir/closed.json" 'd["achieved_rate"]')
printf '  wrk            %10.0f req/s\n  perfgate load  %10.0f req/s   ratio %.2f x wrk (target >= 1.0)\n' \
  "$wrk_rps" "$pg_rps" "$(python3 -c "print($pg_rps/$wrk_rps)")"

for pct in 50 80; do
  rate=$(python3 -c "print(round($wrk_rps*$pct/100))")
  taskset -c 0 "$bin/perfgate" -o json load "$url" --rate "$rate" --connections "$conns" --threads 1 \
    --duration "$duration" > "$dir/open$pct.json" || true
  printf '== open loop at %s%% of max (%s req/s): achieved/target %.4f, scheduling delay p99 %s us, generator lag p99 %s us, latency p99 %s us, valid %s\n' \
    "$pct" "$rate" "$(field "$dir/open$pct.json" 'd["achieved_rate"]/d["target_rate"]')" \
    "$(field "$dir/open$pct.json" 'd["total"]["scheduling_delay_us"]["p99"]')" \
    "$(field "$dir/open$pct.json" 'd["total"]["generator_lag_us"]["p99"]')" \
    "$(field "$dir/open$pct.json" 'd["total"]["latency_us"]["p99"]')" "$(field "$dir/open$pct.json" 'd["valid"]')"
done

rate=$(python3 -c "print(round($wrk_rps*0.5))")
echo "== soak: open loop at $rate req/s for $soak, generator RSS every 10 s (MiB)"
taskset -c 0 "$bin/perfgate" -o json load "$url" --rate "$rate" --connections "$conns" --threads 1 \
  --duration "$soak" > "$dir/soak.json" &
gen=$!
samples=()
sleep 10  # the first sample once the run is under way
while kill -0 $gen 2>/dev/null; do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$gen/status 2>/dev/null || true)
  [ -n "$rss" ] && samples+=("$rss")
  sleep 10
done
wait $gen || true
echo "  samples: ${samples[*]}"
python3 - "${samples[@]}" <<'PY'
import sys
s = [float(x) for x in sys.argv[1:]]
if len(s) >= 2:
    print(f"  first {s[0]:.1f} MiB, last {s[-1]:.1f} MiB, max {max(s):.1f} MiB, growth {s[-1]-s[0]:+.1f} MiB")
PY
printf '  soak achieved/target %.4f, scheduling delay p99 %s us, generator lag p99 %s us, valid %s\n' \
  "$(field "$dir/soak.json" 'd["achieved_rate"]/d["target_rate"]')" \
  "$(field "$dir/soak.json" 'd["total"]["scheduling_delay_us"]["p99"]')" \
  "$(field "$dir/soak.json" 'd["total"]["generator_lag_us"]["p99"]')" "$(field "$dir/soak.json" 'd["valid"]')"

echo "== low rate: 400 req/s on the sample target (1 ms CPU a request, 32 threads), $duration each, in turns"
sut_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/perfgate-sample-target" --listen "127.0.0.1:$sut_port" --threads 32 --cpu-burn 1ms >/dev/null 2>&1 &
sut_pid=$!
trap 'kill $nginx_pid $sut_pid 2>/dev/null; wait $nginx_pid $sut_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$sut_port/healthz" >/dev/null && break; sleep 0.1; done
for round in 1 2 3; do
  for mode in fixed adaptive; do
    spin=0s; [ "$mode" = fixed ] && spin=1ms
    { TIMEFORMAT='%U %S'; time "$bin/perfgate" -o json load "http://127.0.0.1:$sut_port/api/items" \
        --rate 400 --connections 16 --duration "$duration" --spin-window "$spin" \
        --max-generator-lag 1s > "$dir/low-$mode-$round.json"; } 2> "$dir/low-$mode-$round.cpu"
  done
done
python3 - "$dir" <<'PY'
import json, statistics, sys
d = sys.argv[1]
rows = {}
for mode in ("fixed", "adaptive"):
    r = []
    for k in (1, 2, 3):
        j = json.load(open(f"{d}/low-{mode}-{k}.json"))
        u, s = map(float, open(f"{d}/low-{mode}-{k}.cpu").read().split()[-2:])
        r.append({"cpu": (u + s) / j["elapsed_s"],
                  "lag99": j["total"]["generator_lag_us"]["p99"],
                  "p50": j["total"]["latency_us"]["p50"], "p90": j["total"]["latency_us"]["p90"],
                  "p99": j["total"]["latency_us"]["p99"]})
    rows[mode] = {k: statistics.median(x[k] for x in r) for k in r[0]}
f, a = rows["fixed"], rows["adaptive"]
print("  (medians of 3)          fixed 1 ms spin   learnt window   ratio")
print(f"  generator CPU (cores)    {f['cpu']:13.3f}   {a['cpu']:13.3f}   {a['cpu']/f['cpu']:.2f}")
for k, name in (("lag99", "generator lag p99 (us)"), ("p50", "SUT latency p50 (us)"),
                ("p90", "SUT latency p90 (us)"), ("p99", "SUT latency p99 (us)")):
    print(f"  {name:24s} {f[k]:13.0f}   {a[k]:13.0f}   {a[k]/max(f[k],1):.2f}")
PY
