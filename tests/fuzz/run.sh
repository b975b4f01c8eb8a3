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
targets=(hdr_histogram_fuzz suite_parser_fuzz http_response_fuzz pprof_fuzz)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DPERFGATE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "${PERFGATE_JOBS:-2}" --target "${targets[@]}"
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
