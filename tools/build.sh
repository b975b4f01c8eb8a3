#!/usr/bin/env bash
# Configures (once) and builds perfgate into ./build. Extra arguments are build targets.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j "${PERFGATE_JOBS:-2}" ${1:+--target "$@"}
