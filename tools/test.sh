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
cd build
# Tests start their own PostgreSQL clusters and processes on ephemeral ports, so they can run
# in parallel.
ctest --output-on-failure -j "${PERFGATE_TEST_JOBS:-2}" --timeout 300 "$@"
