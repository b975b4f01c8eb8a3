#!/usr/bin/env bash
# perfgate's main job end to end, on its embedded defaults: builds perfgate, starts a
# controller on a private PostgreSQL (unix socket only) and a local agent, submits the demo
# suite, follows it to the end, and shows the results. Everything listens on loopback only and
# is stopped when the script exits. Run as root on a fresh Debian bookworm machine.
#   PERFGATE_DEMO_DIR   where state goes (default /tmp/perfgate-demo; removed at the start)
#   PERFGATE_DEMO_PORT  controller gRPC port (default 7600; HTTP is the next port)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./tools/install-deps.sh
./tools/build.sh perfgate-controller perfgate-agent perfgate
bin=$root/build/bin
dir=${PERFGATE_DEMO_DIR:-/tmp/perfgate-demo}
port=${PERFGATE_DEMO_PORT:-7600}
http=$((port + 1))
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== starting the controller (private PostgreSQL under $dir/controller)"
"$bin/perfgate-controller" --data-dir "$dir/controller" --grpc-listen "127.0.0.1:$port" \
  --http-listen "127.0.0.1:$http" --ready-file "$dir/controller.ready" >"$dir/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -f "$dir/controller.ready" ] && break; sleep 0.1; done
[ -f "$dir/controller.ready" ] || { echo "controller did not start:"; cat "$dir/controller.log"; exit 1; }

echo "== starting an agent"
"$bin/perfgate-agent" --controller "127.0.0.1:$port" --name demo-agent --work-dir "$dir/agent" \
  --http-listen 127.0.0.1:0 >"$dir/agent.log" 2>&1 &
pids+=($!)
export PERFGATE_CONTROLLER=127.0.0.1:$port
for _ in $(seq 1 100); do "$bin/perfgate" agent list 2>/dev/null | grep -q 'demo-agent *yes' && break; sleep 0.1; done
"$bin/perfgate" agent list

echo
echo "== submitting deploy/examples/demo-suite.yaml and following it"
"$bin/perfgate" run submit --suite deploy/examples/demo-suite.yaml --kind baseline --branch main \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || echo demo)" --wait
echo
echo "== runs"
"$bin/perfgate" run list
echo
echo "== the run as JSON (what CI reads)"
"$bin/perfgate" -o json run get 1 | head -12
echo "  ..."
echo
echo "== the controller's own metrics (http://127.0.0.1:$http/metrics)"
curl -s "http://127.0.0.1:$http/metrics" | grep -E '^perfgate_controller_(jobs\{state="SUCCEEDED"|claims_total|agents_connected|dispatch_latency_seconds_count)'
echo
echo "demo finished: logs in $dir/controller.log and $dir/agent.log"
