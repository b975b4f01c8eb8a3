#!/usr/bin/env bash
# perfgate's main job end to end, on its embedded defaults: builds perfgate, starts a
# controller on a private PostgreSQL (unix socket only) and a local agent, makes a git
# repository of a system under test (the sample target; each commit's `flags` file says which
# regression it carries), and benchmarks a baseline commit, a candidate with an injected 10 %
# latency regression and an A/A experiment (--aa: the baseline's commit again) with
# deploy/examples/sample-target-suite.yaml: built at the commit, started on a port the agent
# picks, warmed up, 9 repetitions of open-loop HTTP load with /proc sampling and a private
# Prometheus scraping the service (the suite's PromQL over each window), results into
# PostgreSQL. The controller compares each candidate with main's baseline: verdicts with
# confidence intervals, the Markdown report (PR comment), alerts and the HTML comparison page;
# also the candidate's leak as a Prometheus series. The baseline and the candidate are started by
# signed GitHub webhooks (a push to main, a pull request), and what perfgate reports back (check
# runs, commit statuses, the PR comment) goes to perfgate-forge-recorder, a stand-in for GitHub's
# API that prints each request. Everything listens on loopback only and is stopped
# when the script exits. Run as root on a fresh Debian bookworm machine.
#   PERFGATE_DEMO_DIR   where state goes (default /tmp/perfgate-demo; removed at the start)
#   PERFGATE_DEMO_PORT  controller gRPC port (default 7600; HTTP is the next port)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./tools/install-deps.sh
./tools/build.sh perfgate-controller perfgate-agent perfgate perfgate-sample-target \
  perfgate-forge-recorder
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

echo "== a stand-in for GitHub's API on loopback (it prints what perfgate reports back)"
"$bin/perfgate-forge-recorder" --out "$dir/forge.jsonl" --comment-file "$dir/pr-comment.md" \
  --ready-file "$dir/forge.ready" >"$dir/forge.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$dir/forge.ready" ] && break; sleep 0.1; done
forge_port=$(cat "$dir/forge.ready")
secret=demo-webhook-secret
echo "$secret" >"$dir/webhook.secret"
echo "demo-token" >"$dir/github.token"

echo "== starting the controller (private PostgreSQL under $dir/controller)"
"$bin/perfgate-controller" --data-dir "$dir/controller" --grpc-listen "127.0.0.1:$port" \
  --http-listen "127.0.0.1:$http" --ready-file "$dir/controller.ready" \
  --github-webhook-secret-file "$dir/webhook.secret" --github-token-file "$dir/github.token" \
  --github-api-url "http://127.0.0.1:$forge_port" >"$dir/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -f "$dir/controller.ready" ] && break; sleep 0.1; done
[ -f "$dir/controller.ready" ] || { echo "controller did not start:"; cat "$dir/controller.log"; exit 1; }

echo "== starting an agent (the sample target on its PATH)"
# The agent runs the jobs' code as its job user (perfgate-job, which install-deps made). Where
# that user cannot reach this build tree (a checkout under a private home), the demo's jobs run
# as the agent's own user instead, and the agent's log warns that they do.
job_user=()
if [ "$(id -u)" = 0 ] && ! runuser -u perfgate-job -- test -x "$bin/perfgate-sample-target" 2>/dev/null; then
  echo "   (perfgate-job cannot run $bin/perfgate-sample-target: jobs run as root in this demo)"
  job_user=(--job-user '')
fi
PATH=$bin:$PATH "$bin/perfgate-agent" --controller "127.0.0.1:$port" --name demo-agent --work-dir "$dir/agent" \
  --http-listen 127.0.0.1:0 "${job_user[@]}" >"$dir/agent.log" 2>&1 &
pids+=($!)
export PERFGATE_CONTROLLER=127.0.0.1:$port
for _ in $(seq 1 100); do "$bin/perfgate" agent list 2>/dev/null | grep -q 'demo-agent *yes' && break; sleep 0.1; done
"$bin/perfgate" agent list

echo
echo "== the system under test: a git repository with a baseline and a candidate commit"
sut=$dir/sut
git init -q "$sut"
git -C "$sut" config user.email demo@perfgate.invalid
git -C "$sut" config user.name "perfgate demo"
echo "--cpu-burn 1ms" >"$sut/flags"
git -C "$sut" add flags
git -C "$sut" commit -qm "baseline: the sample target, 1 ms of CPU work per request"
base=$(git -C "$sut" rev-parse HEAD)
echo "--cpu-burn 1120us --leak-bytes 256" >"$sut/flags"
git -C "$sut" commit -qam "candidate: ~10 % slower per request (120 us more CPU work), and a leak"
cand=$(git -C "$sut" rev-parse HEAD)
git -C "$sut" log --oneline
suite=$dir/suite.yaml
sed "s#repository: /tmp/perfgate-demo/sut#repository: $sut#" deploy/examples/sample-target-suite.yaml >"$suite"

# The analyser compares a candidate as soon as its run ends; wait for that.
wait_compared() {
  for _ in $(seq 1 100); do "$bin/perfgate" compare "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$bin/perfgate" compare "$1"
}

# A webhook as GitHub sends it: the JSON body signed with HMAC-SHA-256 under the shared secret.
webhook() {  # EVENT DELIVERY-ID BODY
  local sig
  sig=$(printf '%s' "$3" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')
  curl -s -X POST "http://127.0.0.1:$http/hooks/github" -H "Content-Type: application/json" \
    -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" -H "X-Hub-Signature-256: sha256=$sig" \
    --data-binary "$3"
  echo
}
repo_json='"repository": {"full_name": "demo/sample-target", "default_branch": "main"}'

echo
echo "== the project: the repository demo/sample-target on GitHub, benchmarked with the suite"
"$bin/perfgate" project add perfgate-demo --forge github --repository demo/sample-target --suite "$suite" \
  --baseline-branch main

echo
echo "== run 1: a signed push webhook for main at ${base:0:12} -> the baseline (following its log)"
webhook push d-1 "{\"ref\": \"refs/heads/main\", \"after\": \"$base\", $repo_json}"
"$bin/perfgate" run watch 1
echo
echo "== run 2: a signed pull_request webhook (PR #7, head ${cand:0:12}, a 10 % latency regression)"
webhook pull_request d-2 "{\"action\": \"opened\", \"number\": 7, $repo_json,
  \"pull_request\": {\"head\": {\"sha\": \"$cand\", \"ref\": \"feature\",
  \"repo\": {\"full_name\": \"demo/sample-target\"}}, \"base\": {\"ref\": \"main\"}, \"labels\": []}}"
echo "   ... the same delivery again (GitHub redelivers): acknowledged, nothing new"
webhook pull_request d-2 "{\"action\": \"opened\", \"number\": 7, $repo_json,
  \"pull_request\": {\"head\": {\"sha\": \"$cand\", \"ref\": \"feature\",
  \"repo\": {\"full_name\": \"demo/sample-target\"}}, \"base\": {\"ref\": \"main\"}, \"labels\": []}}"
"$bin/perfgate" run watch 2 >"$dir/candidate.log" 2>&1 || true
"$bin/perfgate" run get 2
echo
echo "== an A/A experiment (--aa: the newest baseline's commit measured again)"
# Its run id is read back: an inconclusive candidate's confirmation run may have taken the next.
submitted=$("$bin/perfgate" -o json run submit --suite "$suite" --aa --branch aa-check --baseline-branch main)
aa=$(printf '%s\n' "$submitted" |
  awk '!done && match($0, /"id": *"[0-9]+"/) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); print s; done = 1 }')
[ -n "$aa" ] || { echo "the A/A run was not submitted: $submitted"; exit 1; }
echo "   run $aa"
"$bin/perfgate" run watch "$aa" >"$dir/aa.log" 2>&1 || true
echo
echo "== runs"
"$bin/perfgate" run list
echo
echo "== results of the baseline (run 1)"
"$bin/perfgate" run results 1
echo "== the candidate's verdicts against the baseline: perfgate compare 2"
wait_compared 2
"$bin/perfgate" compare 2
echo "== the A/A experiment: perfgate compare $aa"
wait_compared "$aa"
"$bin/perfgate" compare "$aa" | awk "NR <= 8"
echo
echo "== what went back to \"GitHub\" for the pull request: check runs, commit statuses, one comment"
for _ in $(seq 1 100); do
  [ -z "$("$bin/perfgate" outbox list --state pending | awk 'NR > 1')" ] && break; sleep 0.2
done
"$bin/perfgate" outbox list
grep "check-runs\|statuses/$cand\|/issues/" "$dir/forge.log" | sed 's/^forge: /  /'
echo
echo "== the PR comment perfgate keeps edited on PR #7 (first 30 lines of $dir/pr-comment.md)"
awk 'NR <= 30' "$dir/pr-comment.md"
echo "  ..."
echo "== alerts raised"
"$bin/perfgate" alert list
echo
echo "== the comparison page (HTML with inline SVG charts, no JavaScript)"
page=$("$bin/perfgate" report 2 --format html)
echo "$page"
curl -s "$page" | grep -o -E '<svg|Verdict: [a-z_]+' | sort | uniq -c
echo "== the candidate's leak as its own Prometheus saw it (range query 'leaked', repetition 1)"
"$bin/perfgate" run series 2 leaked | awk '/repetition 2 /{stop=1} !stop'
echo "== the same as JSON (what CI reads), first lines of $dir/results-2.json"
"$bin/perfgate" -o json run results 2 >"$dir/results-2.json"
head -12 "$dir/results-2.json"
echo "  ..."
echo
echo "== a scale-tier campaign (docs/campaigns.md): two tiers, a baseline campaign at ${base:0:12}"
campaign_suite=$dir/campaign.yaml
sed "s#repository: /tmp/perfgate-demo/sut#repository: $sut#" deploy/examples/sample-target-campaign.yaml >"$campaign_suite"
"$bin/perfgate" campaign submit --suite "$campaign_suite" --commit "$base" --branch main --kind baseline \
  --wait || echo "   (exit $?: a level was missed on this machine)"
echo "== ... and a candidate campaign at ${cand:0:12}, each tier judged against the baseline's same tier"
"$bin/perfgate" campaign submit --suite "$campaign_suite" --commit "$cand" --branch pr-7 \
  --baseline-branch main --kind candidate --wait || echo "   (exit $?: the campaign's outcome is fail)"
echo
echo "== the controller's own metrics (http://127.0.0.1:$http/metrics)"
curl -s "http://127.0.0.1:$http/metrics" | grep -E '^perfgate_controller_(jobs\{state="SUCCEEDED"|claims_total|agents_connected|rpc_duration_seconds_count\{method="UploadResults"|webhooks_total\{forge="github",result="(accepted|duplicate)"|outbox_sends_total\{result="sent")'
echo
echo "demo finished: logs in $dir/controller.log and $dir/agent.log"
