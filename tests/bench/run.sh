#!/usr/bin/env bash
# Runs perfgate's system benchmarks and prints figures with ratios against reference runs made
# in the same invocation. Usage: tests/bench/run.sh [dispatch_bench options, e.g. --jobs 2000]
set -euo pipefail
cd "$(dirname "$0")/../.."
./tools/install-deps.sh --test
./tools/build.sh perfgate-controller dispatch_bench profile_bench forge_bench tail_bench hosts_bench tls_bench \
  store_bench
./build/bin/dispatch_bench --bin-dir "$(pwd)/build/bin" "$@"
echo
echo "== the queue over mutual TLS against plaintext =="
./build/bin/tls_bench --bin-dir "$(pwd)/build/bin" --pki "$(pwd)/tools/pki.sh"
echo
echo "== pprof reading (controller/profile) against go tool pprof =="
./build/bin/profile_bench
echo
./build/bin/forge_bench --bin-dir "$(pwd)/build/bin"
echo
echo "== tail percentiles: the median of per-repetition p99s against merged histograms =="
./build/bin/tail_bench
echo
echo "== netns test hosts: bring-up, teardown, fault timing, sampling cost (root; SKIPPED otherwise) =="
./build/bin/hosts_bench
echo
echo "== the store at fleet scale: pages and queries at 10^3 and 10^4 runs, 1,000 agents =="
./build/bin/store_bench --bin-dir "$(pwd)/build/bin"
