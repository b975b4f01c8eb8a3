#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, store tests
# on a real PostgreSQL, integration tests with real controller/agent processes over gRPC).
# Run as root on a fresh Debian bookworm machine, or as any user once deps are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh --test
./tools/build.sh
cd build
# Tests start their own PostgreSQL clusters and processes on ephemeral ports, so they can run
# in parallel.
ctest --output-on-failure -j "${PERFGATE_TEST_JOBS:-2}" --timeout 300 "$@"
