#!/usr/bin/env bash
# The detection benchmark: A/A false-positive rate and detection power at injected latency
# regressions of 2, 3, 5 and 10 %, on the sample target with the example suite's default
# repetitions, through the real controller and agent: at the first comparison, and through the
# whole pipeline (inconclusive candidates decided by interleaved confirmation runs). A run takes
# ~50 s and a confirmation ~2 min: 3 history runs + 4 rounds of 6 runs, plus the confirmations,
# is about an hour on a noisy machine (where most candidates need one), less on a quiet one.
# Usage: tests/bench/detection/run.sh [--rounds N] [--history N] [--levels 2 5 ...] [--json F]
set -euo pipefail
cd "$(dirname "$0")/../../.."
./tools/install-deps.sh --test
./tools/build.sh perfgate-controller perfgate-agent perfgate perfgate-sample-target detection_bench
exec ./build/bin/detection_bench --bin-dir "$(pwd)/build/bin" --source-dir "$(pwd)" "$@"
