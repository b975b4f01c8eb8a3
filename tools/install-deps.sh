#!/usr/bin/env bash
# Installs what perfgate needs from Debian bookworm's archive (nothing else is downloaded).
# Idempotent: does nothing when every package is already there. Run as root.
#   tools/install-deps.sh          build + run dependencies
#   tools/install-deps.sh --test   also what the tests and benchmarks use
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates openssl procps
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
      libpqxx-dev postgresql-15 postgresql-client-15 prometheus-cpp-dev libspdlog-dev
      nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libcpp-httplib-dev libssl-dev
      libgtest-dev libgmock-dev curl zlib1g-dev prometheus iproute2 iptables openssh-client
      rsync libgoogle-perftools-dev)
# The sample target's heap profile is gperftools' heap profiler (libgoogle-perftools-dev).
# The agent makes netns test hosts with iproute2 (namespaces, veths, a bridge) and lets them talk
# across the bridge with an iptables FORWARD rule where bridged traffic passes iptables. It
# reaches ssh hosts (a --host-pool) with OpenSSH's client and copies builds there with rsync.
# The tests also drive wrk, and the compose driver against a real Docker engine with an image
# built locally from busybox (no registry pulls) — with apparmor, which docker.io only recommends:
# where the kernel has AppArmor on (Debian's does), dockerd refuses to start any container
# without apparmor_parser to load its docker-default profile; golang-go builds a small Go service (standard
# library only) whose /debug/pprof the profile tests capture; a real Alertmanager receives
# the analysis tests' alerts; the page tests load every web page in headless Chromium through
# chromedriver (WebDriver). The CI-integration tests run GitHub's OpenAPI description in Prism
# and GitHub's webhook examples, npm packages (below): node and npm come from Debian where the
# machine has no npm of its own (an image with NodeSource's node must not get Debian's npm).
# The fault-schedule tests run a real three-member etcd (etcd-server) on netns test hosts and
# kill its leader under load, and Redis with replication and Sentinel, killing its master;
# the ssh-host tests run Debian's sshd (openssh-server) inside netns
# hosts as the machines of a host pool.
# The harness tests run the real benchmark harnesses: a Google Benchmark program
# (libbenchmark-dev), pytest-benchmark, go test -bench (golang-go) and hyperfine; the fuzz
# targets are built with clang-14 and libFuzzer (tests/fuzz/run.sh).
if [ "${1:-}" = --test ]; then
  pkgs+=(wrk docker.io docker-compose apparmor busybox-static golang-go prometheus-alertmanager
         chromium chromium-driver libbenchmark-dev python3-pytest-benchmark hyperfine
         etcd-server openssh-server redis-server redis-sentinel redis-tools
         clang-14 libfuzzer-14-dev libclang-rt-14-dev)
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # perfgate wants the prometheus binary (agents start private servers per attempt), not the
  # system-wide server the package starts under systemd: on a benchmark machine that is noise.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
     systemctl is-active --quiet prometheus 2>/dev/null; then
    echo "install-deps: stopping and disabling the prometheus service the package started"
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" prometheus-alertmanager "* ]] && command -v systemctl >/dev/null &&
     systemctl is-active --quiet prometheus-alertmanager 2>/dev/null; then
    systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
  fi
  # The tests start their own sshd, redis and sentinels inside test hosts; the machine-wide
  # services the packages start are not needed for them.
  for svc in ssh:openssh-server redis-server:redis-server redis-sentinel:redis-sentinel; do
    if [[ " ${missing[*]} " == *" ${svc#*:} "* ]] && command -v systemctl >/dev/null &&
       systemctl is-active --quiet "${svc%%:*}" 2>/dev/null; then
      systemctl disable --now "${svc%%:*}" >/dev/null 2>&1 || true
    fi
  done
fi
# perfgate runs PostgreSQL as the unprivileged 'postgres' user, which must be able to enter
# the data directory's parents. Some container images are built with a root directory of mode
# 0700 (a normal Debian machine has 0755); make it searchable, as on any Debian install.
if [ "$(id -u)" = 0 ] && [ "$(stat -c %a /)" = 700 ]; then
  echo "install-deps: / has mode 0700; setting 0755 so that the PostgreSQL user can reach its data"
  chmod 755 /
fi
# Agents run the jobs' code as this unprivileged user (perfgate-agent --job-user perfgate-job),
# so that a benchmarked commit cannot read the agent's key and token (docs/security.md).
if [ "$(id -u)" = 0 ] && ! getent passwd perfgate-job >/dev/null; then
  echo "install-deps: creating the system user perfgate-job (agents run jobs as it)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin perfgate-job
fi
# Debian's postgresql package starts a cluster of its own on port 5432; perfgate does not use
# it (it runs private clusters on unix sockets), so it is left alone.
# The forge tests' npm packages (tests/forge/package.json, versions pinned by its lock file), into
# tests/forge/node_modules: never committed. Skipped when already installed from this lock file.
if [ "${1:-}" = --test ]; then
  forge_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/forge"
  stamp="$forge_dir/node_modules/.perfgate-lock"
  if ! cmp -s "$forge_dir/package-lock.json" "$stamp" 2>/dev/null; then
    echo "install-deps: npm ci in tests/forge (Prism, @octokit/openapi, webhook examples)"
    (cd "$forge_dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$forge_dir/package-lock.json" "$stamp"
  fi
fi
