// How long netns test hosts (agent/hosts/netns_hosts.h) take to bring up and tear down: 3, 8
// and 13 hosts (the scale tiers' 1 + 2, 3 + 5 and 3 + 10), each with its namespace, veth on
// the topology's bridge, address, route and cgroup; against the bare floor in the same
// invocation: as many namespaces made and removed by one `ip -batch` (what the kernel and
// iproute2 cost without addresses, links or cgroups). Then, with 13 hosts up and a process on
// each: how precisely a fault schedule fires (agent/bench/faults.h: pauses, which are one
// signal, and partitions, which run iptables in the host's namespace), from the scheduled time
// to the call and to the action's end; and what sampling them costs (agent/bench/
// resource_sampler.h, every 250 ms: 13 hosts' groups and 13 services), against the same
// sampling with one /proc scan per tree instead of one per tick. Last, the real perfgate-agent
// (with a controller on its embedded PostgreSQL): its own CPU and RSS while a job's hosts run,
// for each scale tier's shape (1 + 2, 3 + 5, 3 + 10 managers + workers, a service on each,
// sampled every 250 ms; the workload a command that sleeps the window, so nothing else runs in
// the agent), against the same agent idle.
// Needs root; says SKIPPED otherwise.
//   hosts_bench [--rounds 5] [--faults 60] [--sample-seconds 10] [--agent-seconds 15]

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/bench/faults.h"
#include "agent/bench/resource_sampler.h"
#include "agent/hosts/netns_hosts.h"
#include "agent/load/pacer.h"
#include "agent/spool/attempt_journal.h"
#include "common/log/log.h"
#include "common/process/proc_stats.h"
#include "common/process/subprocess.h"
#include "tests/bench/bench_support.h"

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

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int64_t SelfRssBytes() {
  return perfgate::common::ReadProcStats(getpid())
      .value_or(perfgate::common::ProcStats{})
      .rss_bytes;
}

std::string RunCli(const std::string& bin_dir, const std::string& controller,
                   std::vector<std::string> args) {
  perfgate::common::SpawnOptions o;
  o.argv = {bin_dir + "/perfgate", "--controller", controller};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  int code = 0;
  auto out = perfgate::common::RunAndCapture(o, &code);
  return out.ok() ? *out : "";
}

// A job of MANAGERS + WORKERS hosts with a service each (the campaign tiers' shapes).
constexpr char kHostsSuite[] = R"yaml(
name: hosts-bench
jobs:
  - name: tier
    benchmark:
      stack:
        hosts:
          - {role: manager, count: MANAGERS, cpus: 0.5, memory: 256Mi}
          - {role: worker, count: WORKERS, cpus: 0.5, memory: 128Mi}
        services:
          - {name: m, on: manager, args: [sleep, "600"]}
          - {name: w, on: worker, args: [sleep, "600"]}
      workload:
        duration: WINDOWs
        repetitions: 1
        command: 'sleep $PERFGATE_DURATION_SECONDS; echo "{\"measurements\": [{\"name\": \"x\", \"value\": 1}]}"'
)yaml";

// The real agent's own CPU (% of a core) and RSS (MiB): idle, then while a job's 3, 8 and 13
// hosts run.
// 1 when it could not be measured (the reason on stderr).
int MeasureAgent(const std::string& bin_dir, const std::string& dir, int seconds) {
  std::filesystem::create_directories(dir + "/controller");
  auto controller = perfgate::bench::BenchController::Start(bin_dir, dir + "/controller", {});
  if (!controller) return 1;
  const std::string name = absl::StrCat("hosts-bench-", getpid());
  perfgate::common::SpawnOptions o;
  o.argv = {bin_dir + "/perfgate-agent",
            "--controller",
            controller->grpc_addr(),
            "--name",
            name,
            "--work-dir",
            dir + "/agent",
            "--http-listen",
            "127.0.0.1:0"};
  FILE* log = fopen((dir + "/agent.log").c_str(), "w");
  if (log) o.stdout_fd = o.stderr_fd = fileno(log);
  auto agent = perfgate::common::Spawn(o);
  if (log) fclose(log);
  if (!agent.ok()) {
    std::fprintf(stderr, "agent: %s\n", std::string(agent.status().message()).c_str());
    return 1;
  }
  auto stop_agent = [&] {
    perfgate::common::SignalGroup(*agent, SIGTERM).IgnoreError();
    perfgate::common::WaitFor(*agent, absl::Seconds(30)).IgnoreError();
  };
  if (!perfgate::bench::WaitFor(
          [&] {
            return RunCli(bin_dir, controller->grpc_addr(), {"agent", "list"}).find(name) !=
                   std::string::npos;
          },
          absl::Seconds(30))) {
    std::fprintf(stderr, "the agent never connected (see %s/agent.log)\n", dir.c_str());
    stop_agent();
    return 1;
  }
  // Measures for `seconds`: CPU % of a core, and the largest RSS seen (sampled every 100 ms).
  auto read = [&] {
    return perfgate::common::ReadProcStats(*agent).value_or(perfgate::common::ProcStats{});
  };
  auto measure = [&](double* cpu_pct, double* rss_mib) {
    int64_t rss = 0;
    const double c0 = read().cpu_seconds;
    const absl::Time until = absl::Now() + absl::Seconds(seconds);
    while (absl::Now() < until) {
      rss = std::max(rss, read().rss_bytes);
      absl::SleepFor(absl::Milliseconds(100));
    }
    *cpu_pct = (read().cpu_seconds - c0) / seconds * 100;
    *rss_mib = rss / 1048576.0;
  };
  double idle_cpu = 0, idle_rss = 0;
  measure(&idle_cpu, &idle_rss);
  std::printf(
      "\n| perfgate-agent (%d s each) | CPU, %% of a core | RSS MiB | over idle: CPU | RSS |\n"
      "| --- | ---: | ---: | ---: | ---: |\n",
      seconds);
  std::printf("| idle, connected (reference) | %.2f | %.1f | | |\n", idle_cpu, idle_rss);
  const std::string prefix = perfgate::agent::HostsPrefix(name);
  // How many of the agent's namespaces there are.
  auto namespaces = [&] {
    perfgate::common::SpawnOptions c;
    c.argv = {"/bin/sh", "-c", "ip netns list 2>/dev/null | grep -c '^" + prefix + "' || true"};
    int code = 0;
    auto n = perfgate::common::RunAndCapture(c, &code);
    return n.ok() ? *n : std::string("?");
  };
  // The campaign tiers' shapes: 1 + 2, 3 + 5, 3 + 10 hosts.
  for (auto [managers, workers] : {std::pair{1, 2}, {3, 5}, {3, 10}}) {
    const int n = managers + workers;
    std::string suite = kHostsSuite;
    suite.replace(suite.find("MANAGERS"), 8, std::to_string(managers));
    suite.replace(suite.find("WORKERS"), 7, std::to_string(workers));
    suite.replace(suite.find("WINDOW"), 6, std::to_string(seconds + 10));
    std::ofstream(dir + "/suite.yaml") << suite;
    const std::string submitted =
        RunCli(bin_dir, controller->grpc_addr(), {"run", "submit", "--suite", dir + "/suite.yaml"});
    // The window starts once the hosts and their services are up: then the sampler runs.
    if (!perfgate::bench::WaitFor([&] { return namespaces() == absl::StrCat(n, "\n"); },
                                  absl::Seconds(60))) {
      std::fprintf(stderr, "the job's %d hosts did not come up: %s (see %s/agent.log)\n", n,
                   submitted.c_str(), dir.c_str());
      stop_agent();
      return 1;
    }
    absl::SleepFor(absl::Seconds(3));  // services started, the repetition begun
    double cpu = 0, rss = 0;
    measure(&cpu, &rss);
    std::printf(
        "| running a job on %d hosts (%d services sampled every 250 ms) | %.2f | %.1f | "
        "%+.2f | %+.1f |\n",
        n, n, cpu, rss, cpu - idle_cpu, rss - idle_rss);
    std::fflush(stdout);
    // The job ends with its window; the agent tears the hosts down.
    perfgate::bench::WaitFor([&] { return namespaces() == "0\n"; }, absl::Seconds(90));
  }
  stop_agent();
  return 0;
}

using perfgate::agent::HostControl;
using perfgate::agent::NetnsTopology;

// The fault schedule's view of the bench's hosts: a process on each, paused with a signal;
// partitions by the topology. Records when each call came (MonotonicNowNs).
class BenchHosts : public HostControl {
 public:
  BenchHosts(NetnsTopology& t, std::map<std::string, pid_t> pids) : t_(t), pids_(std::move(pids)) {}
  std::vector<HostInfo> TestHosts() const override {
    std::vector<HostInfo> v;
    for (const auto& h : t_.hosts()) v.push_back({h.name, h.role, h.address});
    return v;
  }
  absl::Status Kill(const std::string&, const std::string&) override {
    return absl::UnimplementedError("not in this bench");
  }
  absl::Status Restart(const std::string&, const std::string&) override {
    return absl::UnimplementedError("not in this bench");
  }
  absl::Status Pause(const std::string&, const std::string& host, bool pause) override {
    if (pause) calls.push_back({"pause", perfgate::agent::MonotonicNowNs()});
    kill(pids_.at(host), pause ? SIGSTOP : SIGCONT);
    return absl::OkStatus();
  }
  absl::Status Partition(const std::string& host, bool both_ways) override {
    calls.push_back({"partition", perfgate::agent::MonotonicNowNs()});
    std::vector<std::string> others;
    for (const auto& h : t_.hosts())
      if (h.name != host) others.push_back(h.name);
    return t_.Partition({host}, others, both_ways);
  }
  absl::Status Heal(const std::string& host) override { return t_.Heal(host); }
  absl::Status SetNetem(const std::string&, absl::Duration, absl::Duration, double) override {
    return absl::UnimplementedError("not in this bench");
  }
  absl::Status ClearNetem(const std::string&) override { return absl::OkStatus(); }
  absl::Status WaitRestartedReady() override { return absl::OkStatus(); }
  std::vector<std::pair<std::string, int64_t>> calls;  // the fault thread's, read after Finish

 private:
  NetnsTopology& t_;
  std::map<std::string, pid_t> pids_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perfgate hosts benchmark: bring-up and teardown of netns test hosts"};
  int rounds = 5;
  app.add_option("--rounds", rounds, "measurements per size (the median is shown)")
      ->check(CLI::Range(1, 100));
  int faults = 60;
  app.add_option("--faults", faults, "faults fired for the timing figures")
      ->check(CLI::Range(4, 1000));
  int sample_seconds = 10;
  app.add_option("--sample-seconds", sample_seconds, "how long each sampling variant runs")
      ->check(CLI::Range(1, 600));
  int agent_seconds = 15;
  app.add_option("--agent-seconds", agent_seconds,
                 "how long the real agent is measured, idle and then with 3, 8 and 13 hosts "
                 "(0: skip)")
      ->check(CLI::Range(0, 600));
  std::string bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  app.add_option("--bin-dir", bin_dir, "where perfgate-controller, perfgate-agent and perfgate are")
      ->capture_default_str();
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

  // 13 hosts with a process each, for the fault timing and the sampling cost.
  std::vector<perfgate::agent::HostSpec> hosts;
  for (int i = 1; i <= 13; ++i)
    hosts.push_back({absl::StrCat(i <= 3 ? "manager-" : "worker-", i <= 3 ? i : i - 3),
                     {0.5, 256 << 20, 0},
                     i <= 3 ? "manager" : "worker",
                     absl::StrCat(i <= 3 ? i : i - 3)});
  perfgate::agent::TopologyOptions opts;
  opts.prefix = prefix;
  auto t = NetnsTopology::Create("f", hosts, opts);
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  std::map<std::string, pid_t> pids;
  std::vector<perfgate::agent::ServiceProcesses> services;
  std::vector<perfgate::agent::HostGroup> groups;
  for (const auto& h : (*t)->hosts()) {
    perfgate::common::SpawnOptions o;
    o.argv = {"sleep", "600"};
    NetnsTopology::Place(h, &o);
    auto pid = perfgate::common::Spawn(o);
    if (!pid.ok()) {
      std::fprintf(stderr, "%s\n", std::string(pid.status().message()).c_str());
      return 1;
    }
    pids[h.name] = *pid;
    services.push_back({"svc." + h.name, {*pid}});
    groups.push_back({h.name, h.role, h.cgroup.get()});
  }

  // Fault timing: pauses (a signal) and partitions (iptables in a namespace) every 100 ms.
  const std::string dir = absl::StrCat("/tmp/perfgate-hosts-bench-", getpid());
  perfgate::v1::Assign assign;
  assign.set_attempt_id(1);
  assign.set_epoch(1);
  auto journal = perfgate::agent::AttemptJournal::Create(dir + "/attempt", assign);
  std::atomic<bool> cancel{false};
  perfgate::agent::StepRunner steps(**journal, cancel);
  perfgate::agent::BenchContext ctx{**journal, steps, cancel, dir, {}};
  perfgate::v1::FaultSchedule schedule;
  for (int i = 0; i < faults; ++i) {
    perfgate::v1::FaultSpec* f = schedule.add_actions();
    const bool partition = i % 3 == 2;
    f->set_action(partition ? perfgate::v1::FaultSpec::ACTION_PARTITION
                            : perfgate::v1::FaultSpec::ACTION_PAUSE);
    f->set_at_ms(100 + 100 * i);
    f->set_duration_ms(partition ? 40 : 30);
    f->set_target("random:worker");
    if (!partition) f->set_service("svc");
  }
  BenchHosts control(**t, pids);
  perfgate::agent::FaultRunner runner(schedule, control, ctx, 1);
  const int64_t start = perfgate::agent::MonotonicNowNs() + 20'000'000;
  runner.Start(start);
  absl::SleepFor(absl::Milliseconds(100 + 100 * faults + 200));
  std::vector<perfgate::v1::FaultRecord> records;
  std::string not_applied;
  if (auto s = runner.Finish(&records, &not_applied); !s.ok() || !not_applied.empty()) {
    std::fprintf(stderr, "faults: %s %s\n", std::string(s.message()).c_str(), not_applied.c_str());
    return 1;
  }
  std::map<std::string, std::vector<double>> fired, applied;
  for (size_t i = 0; i < control.calls.size() && i < records.size(); ++i) {
    const auto& [kind, at] = control.calls[i];
    fired[kind].push_back((at - start) / 1e6 - records[i].scheduled_ms());
    applied[kind].push_back(
        static_cast<double>(records[i].applied_ms() - records[i].scheduled_ms()));
  }
  std::printf(
      "\n| fault (13 hosts) | fired | late at the call p50 / p99 / max ms | done p50 / p99 ms |\n");
  std::printf("| --- | ---: | ---: | ---: |\n");
  for (const auto& [kind, v] : fired) {
    std::printf("| %s | %zu | %.2f / %.2f / %.2f | %.0f / %.0f |\n", kind.c_str(), v.size(),
                perfgate::bench::Percentile(v, 50), perfgate::bench::Percentile(v, 99),
                perfgate::bench::Percentile(v, 100), perfgate::bench::Percentile(applied[kind], 50),
                perfgate::bench::Percentile(applied[kind], 99));
  }

  // Sampling cost: the sampler's thread alone (this thread sleeps), against one /proc scan per
  // tree (the reference: what each service and host cost before snapshots were shared).
  const int64_t rss_before = SelfRssBytes();
  double c0 = CpuSeconds();
  {
    perfgate::agent::ResourceSampler sampler(services, groups);
    sampler.Start();
    absl::SleepFor(absl::Seconds(sample_seconds));
    perfgate::v1::RepetitionResult r;
    sampler.Stop(&r);
  }
  const double shared = (CpuSeconds() - c0) / sample_seconds;
  const int64_t rss_after = SelfRssBytes();
  c0 = CpuSeconds();
  const absl::Time until = absl::Now() + absl::Seconds(sample_seconds);
  while (absl::Now() < until) {
    for (const auto& svc : services) (void)perfgate::agent::SampleProcessTree(svc.roots);
    for (const auto& g : groups) {
      const std::vector<int> p = g.cgroup->Pids();
      (void)perfgate::agent::SampleProcessTree(std::vector<pid_t>(p.begin(), p.end()));
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  const double per_tree = (CpuSeconds() - c0) / sample_seconds;
  int procs = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc"))
    procs += std::isdigit(static_cast<unsigned char>(e.path().filename().string()[0])) ? 1 : 0;
  std::printf(
      "\n| sampling 13 hosts + 13 services every 250 ms (%d processes on the machine) | "
      "CPU, %% of a core |\n| --- | ---: |\n",
      procs);
  std::printf("| one /proc snapshot a tick (the sampler) | %.2f |\n", shared * 100);
  std::printf("| one /proc scan per tree (reference) | %.2f |\n", per_tree * 100);
  std::printf("| ratio | %.1fx less |\n", per_tree / std::max(1e-9, shared));
  std::printf("\nthis process's RSS: %.1f MiB (sampler's growth %+.1f MiB)\n",
              rss_after / 1048576.0, (rss_after - rss_before) / 1048576.0);
  for (const auto& [name, pid] : pids) kill(pid, SIGKILL);
  (void)(*t)->Teardown();
  std::filesystem::remove_all(dir);
  if (agent_seconds > 0) {
    const std::string agent_dir = dir + "-agent";
    const int rc = MeasureAgent(bin_dir, agent_dir, agent_seconds);
    if (rc == 0) std::filesystem::remove_all(agent_dir);
    return rc;
  }
  return 0;
}
