#!/usr/bin/env bash
# The bisection benchmark: steps and agent time to the culprit commit for ranges of 16, 64 and
# 256 commits of the sample target (the culprit 70 % of the way, 20 % slower), through a real
# controller and agent; a step is 3 interleaved rounds of 2 one-second repetitions a side
# (~27 s of agent time), so the default sizes take ~15 min. The reference in the same
# invocation: a linear scan of each range at the measured cost of a step.
# Usage: tests/bench/bisect/run.sh [--commits 16 64 ...] [--position F] [--effect F]
#        [--max-repetitions N] [--json F]
set -euo pipefail
cd "$(dirname "$0")/../../.."
./tools/install-deps.sh --test
./tools/build.sh perfgate-controller perfgate-agent perfgate perfgate-sample-target bisect_bench
exec ./build/bin/bisect_bench --bin-dir "$(pwd)/build/bin" --source-dir "$(pwd)" "$@"
