#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/*_fuzz.cc): built with clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/, then each run for SECONDS (default 10) after
# replaying its seeds (tests/fuzz/seeds/TARGET/, and for the suite parser the shipped example
# suites) and every input kept as a regression case (tests/fuzz/regressions/TARGET/). Prints the
# executions per target; exits non-zero on a finding, whose input is left in
# build-fuzz/findings/TARGET/ (fix it, then keep the input under regressions/).
#   tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
targets=(hdr_histogram_fuzz suite_parser_fuzz http_response_fuzz pprof_fuzz prom_answer_fuzz
  webhook_fuzz run_spec_fuzz results_upload_fuzz)
# A unity build, as build/ and build-asan/ are (the fuzzers' own sources are one each).
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DPERFGATE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "${PERFGATE_JOBS:-2}" --target "${targets[@]}"
# webhook_fuzz's input is a selector byte (even: GitHub, the event at index byte/2 of the
# target's list) and the body.
github_webhook_seeds() {
  local examples=tests/forge/node_modules/@octokit/webhooks-examples/api.github.com/index.json
  [ -f "$examples" ] || return 0
  python3 - "$examples" "$1" <<'PY'
import json, sys
events = ["push", "pull_request", "issue_comment", "ping"]
for entry in json.load(open(sys.argv[1])):
    if entry["name"] not in events:
        continue
    for i, example in enumerate(entry.get("examples", [])[:20]):
        with open(f"{sys.argv[2]}/{entry['name']}-{i}", "wb") as f:
            f.write(bytes([events.index(entry["name"]) * 2]) + json.dumps(example).encode())
PY
}
total=0
failed=()
printf '%-22s %12s %8s\n' target executions corpus
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  corpus=build-fuzz/corpus/$name findings=build-fuzz/findings/$name
  mkdir -p "$corpus" "$findings" "tests/fuzz/regressions/$name"
  inputs=("$corpus" "tests/fuzz/regressions/$name")
  [ -d "tests/fuzz/seeds/$name" ] && inputs+=("tests/fuzz/seeds/$name")
  [ "$name" = suite_parser ] && inputs+=(deploy/examples)
  # Seeds made from the tests' data: the example suites as run specs, a well-formed upload, and
  # GitHub's published webhook examples (when the forge tests' npm packages are installed).
  made=build-fuzz/seeds/$name
  rm -rf "$made" && mkdir -p "$made" && inputs+=("$made")
  case $name in
    run_spec) PERFGATE_FUZZ_SUITES=deploy/examples PERFGATE_FUZZ_SEED_OUT=$made \
      build-fuzz/bin/$t -runs=0 "$made" >/dev/null 2>&1 ;;
    results_upload) PERFGATE_FUZZ_SEED_OUT=$made build-fuzz/bin/$t -runs=0 "$made" >/dev/null 2>&1 ;;
    webhook) github_webhook_seeds "$made" ;;
  esac
  log=build-fuzz/$name.log
  if ! build-fuzz/bin/$t -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$findings/" "${inputs[@]}" >"$log" 2>&1; then
    failed+=("$t")
    echo "fuzz: $t found a problem; its log: $log, the input: $findings/"
    grep -m 20 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" || true
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  total=$((total + ${execs:-0}))
  printf '%-22s %12s %8s\n' "$t" "${execs:-?}" "$(ls "$corpus" | wc -l)"
done
printf '%-22s %12s\n' all "$total"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: findings in ${failed[*]}"; exit 1; }
