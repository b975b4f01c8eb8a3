#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, store tests
# on a real PostgreSQL, integration tests with real controller/agent processes over gRPC).
# Run as root on a fresh Debian bookworm machine, or as any user once deps are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh --test
./tools/build.sh
# The compose driver's test needs a Docker engine: start one (vfs storage, as a container host
# allows) when none runs and this machine can. Where it cannot (an unprivileged container),
# that one test says it was skipped.
if ! docker info >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
  echo "test.sh: starting dockerd (log in /tmp/perfgate-dockerd.log)"
  (dockerd --storage-driver vfs >/tmp/perfgate-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || echo "test.sh: dockerd did not start; the compose test will be skipped"
fi
# ctest, its output kept: where tests fail, the failed assertions of each again at the end
# (tools/failure-digest.sh), where a long CI log is read first.
run_ctest() {
  local log
  log=$(mktemp /tmp/perfgate-ctest-XXXXXX.log)
  if ! ctest --output-on-failure -j "${PERFGATE_TEST_JOBS:-2}" --timeout 300 "$@" 2>&1 | tee "$log"; then
    echo "test.sh: what failed, in short (the whole output is above):"
    ../tools/failure-digest.sh <"$log"
    return 1
  fi
  rm -f "$log"
}
cd build
# Tests start their own PostgreSQL clusters and processes on ephemeral ports, so they can run
# in parallel.
run_ctest "$@"
cd ..
# The unit and store tests once more, built with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan/ (the process-level tests are left out of that build): a memory error, a leak
# or undefined behaviour (signed overflow, a bad shift, a misaligned read) fails the test that
# hit it. A unity build, as build/ is, unoptimised (-O0: half the compiler time of -O1; the
# tests take a little longer) with line tables only (-g1, enough for the reports to name file
# and line): 7.5 minutes the first time on 2 cores (11.6 at -O1), then incremental.
echo "test.sh: the unit and store tests under AddressSanitizer and UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O0" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 -DPERFGATE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "${PERFGATE_JOBS:-2}" \
  --target unit_common_test unit_agent_test unit_controller_test store_test
cd build-asan
# LeakSanitizer stops the world with ptrace, which some containers forbid: there it is turned
# off (and said), the rest of the checks stay.
leaks=1
probe=$(ASAN_OPTIONS=detect_leaks=1 ./bin/unit_common_test --gtest_filter='CronTest.*' 2>&1 || true)
if grep -q 'LeakSanitizer has encountered a fatal error\|LeakSanitizer does not work' <<<"$probe"; then
  echo "test.sh: LeakSanitizer cannot run here (ptrace is not allowed); leak checks are off"
  leaks=0
fi
ASAN_OPTIONS=detect_leaks=$leaks:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest "$@"
cd ..
# The libFuzzer targets (tests/fuzz/): built with clang, each run 10 s after replaying its seeds
# and every kept regression input; a finding fails the suite.
echo "test.sh: fuzzing (tests/fuzz/run.sh 10)"
tests/fuzz/run.sh 10
