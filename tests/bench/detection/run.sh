#!/usr/bin/env bash
# The detection benchmark: A/A false-positive rate and detection power at injected latency
# regressions of 5, 10 and 20 %, on the sample target with the example suite's default
# repetitions, through the real controller and agent: at the first comparison (today's rules and
# the rules before issue 18 on the same comparisons), and through the whole pipeline
# (inconclusive candidates decided by interleaved confirmation runs sized by the noise). A run
# takes ~50 s; a confirmation at the default budget (60 repetitions a side) ~7 min. With
# --first-look-only no confirmation runs: 3 history runs + 3 rounds of 5 runs take 15 min.
# Then the resampled pipeline (replay.h): the controller's comparer deciding hundreds of
# candidates at exact shifts from the real runs of the baseline's code, confirmations included,
# in ~3 min; --json saves those runs and --replay-from F replays them again without measuring.
# Usage: tests/bench/detection/run.sh [--setting quiet|noisy] [--rounds N] [--history N]
#        [--levels 5 10 ...] [--max-repetitions N] [--first-look-only] [--json F]
#        [--replay-trials N] [--replay-baseline-runs K] [--replay-from F]
set -euo pipefail
cd "$(dirname "$0")/../../.."
./tools/install-deps.sh --test
./tools/build.sh perfgate-controller perfgate-agent perfgate perfgate-sample-target detection_bench
exec ./build/bin/detection_bench --bin-dir "$(pwd)/build/bin" --source-dir "$(pwd)" "$@"
