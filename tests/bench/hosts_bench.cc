// How long netns test hosts (agent/hosts/netns_hosts.h) take to bring up and tear down: 3, 8
// and 13 hosts (the scale tiers' 1 + 2, 3 + 5 and 3 + 10), each with its namespace, veth on
// the topology's bridge, address, route and cgroup; against the bare floor in the same
// invocation: as many namespaces made and removed by one `ip -batch` (what the kernel and
// iproute2 cost without addresses, links or cgroups). Needs root; says SKIPPED otherwise.
//   hosts_bench [--rounds 5]

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/hosts/netns_hosts.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Milliseconds for one `ip -batch` of `lines`.
double IpBatchMs(const std::vector<std::string>& lines) {
  const std::string path = absl::StrCat("/tmp/perfgate-hosts-bench-", getpid());
  {
    std::ofstream f(path);
    for (const auto& l : lines) f << l << "\n";
  }
  perfgate::common::SpawnOptions o;
  o.argv = {"ip", "-batch", path};
  int code = 0;
  const absl::Time t0 = absl::Now();
  auto out = perfgate::common::RunAndCapture(o, &code);
  const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  unlink(path.c_str());
  if (!out.ok() || code != 0) {
    std::fprintf(stderr, "ip -batch failed: %s\n", out.ok() ? out->c_str() : "spawn");
    std::exit(1);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perfgate hosts benchmark: bring-up and teardown of netns test hosts"};
  int rounds = 5;
  app.add_option("--rounds", rounds, "measurements per size (the median is shown)")
      ->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  if (auto s = perfgate::agent::NetnsHostsAvailable(); !s.ok()) {
    std::printf("SKIPPED: %s\n", std::string(s.message()).c_str());
    return 0;
  }
  const std::string prefix = "hb";
  (void)perfgate::agent::RemoveLeftoverHosts(prefix);
  std::printf("| hosts | bring-up ms | teardown ms | bare namespaces up / down ms | up ratio |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: |\n");
  for (int n : {3, 8, 13}) {
    std::vector<double> up, down, bare_up, bare_down;
    for (int r = 0; r < rounds; ++r) {
      std::vector<perfgate::agent::HostSpec> hosts;
      for (int i = 1; i <= n; ++i)
        hosts.push_back({absl::StrCat(i <= 3 ? "manager-" : "worker-", i <= 3 ? i : i - 3),
                         {0.5, 256 << 20, 0}});
      perfgate::agent::TopologyOptions opts;
      opts.prefix = prefix;
      auto t = perfgate::agent::NetnsTopology::Create(absl::StrCat("r", r), hosts, opts);
      if (!t.ok()) {
        std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
        return 1;
      }
      up.push_back(absl::ToDoubleMilliseconds((*t)->setup_time()));
      const absl::Time t0 = absl::Now();
      if (auto s = (*t)->Teardown(); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
      down.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      std::vector<std::string> add, del;
      for (int i = 0; i < n; ++i) {
        add.push_back(absl::StrCat("netns add ", prefix, "bare", i));
        del.push_back(absl::StrCat("netns del ", prefix, "bare", i));
      }
      bare_up.push_back(IpBatchMs(add));
      bare_down.push_back(IpBatchMs(del));
    }
    std::printf("| %d | %.0f | %.0f | %.0f / %.0f | %.1f |\n", n, Median(up), Median(down),
                Median(bare_up), Median(bare_down), Median(up) / Median(bare_up));
  }
  return 0;
}
