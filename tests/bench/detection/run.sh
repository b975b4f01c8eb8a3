#!/usr/bin/env bash
# The detection benchmark: A/A false-positive rate and detection power at injected latency
# regressions of 2, 3, 5 and 10 %, on the sample target with the example suite's default
# repetitions, through the real controller and agent. About 3 minutes per round (5 levels x
# ~35 s); default 5 rounds. Usage: tests/bench/detection/run.sh [--rounds N] [--levels 2 5 ...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
./tools/install-deps.sh --test
./tools/build.sh perfgate-controller perfgate-agent perfgate perfgate-sample-target detection_bench
exec ./build/bin/detection_bench --bin-dir "$(pwd)/build/bin" --source-dir "$(pwd)" "$@"
