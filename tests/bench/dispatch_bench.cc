// Dispatch benchmark: the real perfgate-controller on its embedded (durable) PostgreSQL, and
// simulated agents (each its own gRPC channel, i.e. its own connection, like separate
// machines) that accept and complete every assignment at once.
//
// Measures, in one invocation:
//   reference: a bare gRPC round trip to the controller (no database), and the database's
//              single-row commit rate with 2 connections (the ceiling for any durable queue);
//   dispatch latency: submit -> Assign received, one job at a time on idle agents (p50/p99);
//   throughput: N jobs over M agents, jobs completed per second (claim + accept + complete);
//   memory: controller RSS with K agents connected.
// Prints a table with ratios against the references. Bounded: every phase has a deadline.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/process/proc_stats.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "perfgate/v1/controller.grpc.pb.h"
#include "tests/bench/bench_support.h"

namespace {

using namespace perfgate;
using bench::ConnectedAgents;
using bench::Percentile;
using bench::WaitFor;

long RssKiB(pid_t pid, bool peak = false) {
  auto s = common::ReadProcStats(pid);
  if (!s.ok()) return -1;
  return (peak ? s->peak_rss_bytes : s->rss_bytes) / 1024;
}

double CpuSeconds(pid_t pid) {
  auto s = common::ReadProcStats(pid);
  return s.ok() ? s->cpu_seconds : 0;
}

// CPU seconds of every PostgreSQL server process on the machine (the benchmark's own cluster
// is the only busy one while it runs).
double PostgresCpuSeconds() {
  double total = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(e.path() / "comm");
    std::string c;
    if (std::getline(comm, c) && c.rfind("postgres", 0) == 0) total += CpuSeconds(std::stoi(name));
  }
  return total;
}

// Assign arrival times by run id (for the latency phase) and a count of completions.
struct Shared {
  absl::Mutex mu;
  std::map<int64_t, absl::Time> assigned_at;
  std::atomic<int64_t> completed{0};
};

std::unique_ptr<bench::SimAgent> Sim(const std::string& addr, int i, Shared& shared) {
  bench::SimAgent::Options o;
  o.labels["machine_class"] = "sim";
  o.assigned = [&shared](int64_t run, absl::Time t) {
    absl::MutexLock lock(&shared.mu);
    shared.assigned_at.emplace(run, t);
  };
  o.completed = [&shared](int64_t, absl::Time) { shared.completed++; };
  return std::make_unique<bench::SimAgent>(addr, absl::StrFormat("sim-%03d", i), std::move(o));
}

v1::SubmitRunRequest Jobs(int n) {
  v1::SubmitRunRequest req;
  for (int i = 0; i < n; ++i)
    req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
  return req;
}

}  // namespace

// main is long on purpose: it is the benchmark's script, read top to bottom as the README
// describes it (flags, set-up, measured steps, figures).
int main(int argc, char** argv) {
  int jobs = 10000, agents = 20, idle_agents = 100, samples = 300, jobs_per_run = 100;
  std::string bin_dir, json_out;
  CLI::App app{"perfgate dispatch benchmark"};
  app.add_option("--bin-dir", bin_dir, "where perfgate-controller is")->required();
  app.add_option("--jobs", jobs, "jobs in the throughput phase")->capture_default_str();
  app.add_option("--agents", agents, "simulated agents doing work")->capture_default_str();
  app.add_option("--connected-agents", idle_agents, "agents connected for the memory figure")
      ->capture_default_str();
  app.add_option("--latency-samples", samples, "sequential single-job submits")
      ->capture_default_str();
  app.add_option("--json", json_out, "also write the figures here");
  std::string external_dsn;
  app.add_option("--postgres-dsn", external_dsn,
                 "use this database instead of the embedded one (for profiling)");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/perfgate-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::vector<std::string> extra;
  if (!external_dsn.empty()) extra = {"--postgres-dsn", external_dsn};
  auto controller = bench::BenchController::Start(bin_dir, dir, extra);
  if (!controller) return 1;
  const pid_t pid = controller->pid();
  const std::string addr = controller->grpc_addr();
  auto stub =
      v1::Controller::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  nlohmann::json out;
  auto stop = [&](int code) {
    controller->Stop();
    return code;
  };

  // Reference 1: a bare gRPC round trip (refused before any database work).
  std::vector<double> rtt;
  for (int i = 0; i < 2000; ++i) {
    grpc::ClientContext ctx;
    v1::GetRunRequest req;  // id 0: INVALID_ARGUMENT without touching the database
    v1::Run r;
    absl::Time t0 = absl::Now();
    stub->GetRun(&ctx, req, &r);
    rtt.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }
  // Reference 2: single-row commits per second on the same (durable) database, 2 connections.
  std::string dsn = external_dsn.empty()
                        ? "host=" + dir + "/data/run port=5432 dbname=perfgate user=perfgate"
                        : external_dsn;
  double ref_tps = 0;
  {
    pqxx::connection c(dsn);
    pqxx::nontransaction nt(c);
    nt.exec("CREATE TABLE IF NOT EXISTS bench_ref (id int PRIMARY KEY, v bigint)");
    nt.exec("INSERT INTO bench_ref VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING");
    std::atomic<int64_t> commits{0};
    absl::Time end = absl::Now() + absl::Seconds(3);
    std::vector<std::thread> ts;
    for (int t = 1; t <= 2; ++t) {
      ts.emplace_back([&, t] {
        pqxx::connection cc(dsn);
        while (absl::Now() < end) {
          pqxx::work tx(cc);
          tx.exec_params("UPDATE bench_ref SET v = v + 1 WHERE id = $1", t);
          tx.commit();
          commits++;
        }
      });
    }
    for (auto& t : ts) t.join();
    ref_tps = commits / 3.0;
  }

  Shared shared;
  std::vector<std::unique_ptr<bench::SimAgent>> sims;
  for (int i = 0; i < agents; ++i) sims.push_back(Sim(addr, i, shared));
  if (!WaitFor([&] { return ConnectedAgents(*stub) == agents; }, absl::Seconds(60))) {
    std::cerr << "agents did not connect\n";
    return stop(1);
  }
  std::atomic<bool> hb_stop{false};
  std::thread heartbeats([&] {
    while (!hb_stop) {
      for (auto& s : sims) s->Heartbeat();
      for (int i = 0; i < 50 && !hb_stop; ++i) absl::SleepFor(absl::Milliseconds(100));
    }
  });

  // Dispatch latency: one job at a time, idle agents waiting.
  std::vector<double> lat;
  for (int i = 0; i < samples; ++i) {
    int64_t before = shared.completed;
    grpc::ClientContext ctx;
    v1::SubmitRunRequest req = Jobs(1);
    v1::SubmitRunResponse resp;
    absl::Time t0 = absl::Now();
    if (!stub->SubmitRun(&ctx, req, &resp).ok()) return stop(1);
    if (!WaitFor([&] { return shared.completed > before; }, absl::Seconds(30))) {
      std::cerr << "job never completed\n";
      return stop(1);
    }
    absl::MutexLock lock(&shared.mu);
    lat.push_back(absl::ToDoubleMilliseconds(shared.assigned_at[resp.run().id()] - t0));
  }

  // Throughput: all jobs queued in runs of jobs_per_run, agents drain them.
  int64_t base = shared.completed;
  double ctl_cpu0 = CpuSeconds(pid), pg_cpu0 = PostgresCpuSeconds(),
         self_cpu0 = CpuSeconds(getpid());
  absl::Time t0 = absl::Now();
  std::thread submitter([&] {
    for (int done = 0; done < jobs; done += jobs_per_run) {
      grpc::ClientContext ctx;
      v1::SubmitRunResponse resp;
      if (!stub->SubmitRun(&ctx, Jobs(std::min(jobs_per_run, jobs - done)), &resp).ok())
        std::cerr << "submit failed\n";
    }
  });
  bool finished = WaitFor([&] { return shared.completed - base >= jobs; }, absl::Minutes(20));
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  submitter.join();
  if (!finished) {
    std::cerr << "throughput phase did not finish: " << shared.completed - base << " of " << jobs
              << "\n";
    return stop(1);
  }
  double jobs_per_s = jobs / secs;
  double ctl_us = (CpuSeconds(pid) - ctl_cpu0) * 1e6 / jobs,
         pg_us = (PostgresCpuSeconds() - pg_cpu0) * 1e6 / jobs,
         agents_us = (CpuSeconds(getpid()) - self_cpu0) * 1e6 / jobs;
  long rss_after_jobs = RssKiB(pid);

  // Memory with many connected agents.
  for (int i = agents; i < idle_agents; ++i) {
    sims.push_back(Sim(addr, i, shared));
  }
  WaitFor([&] { return ConnectedAgents(*stub) == idle_agents; }, absl::Seconds(60));
  absl::SleepFor(absl::Seconds(2));
  long rss = RssKiB(pid), hwm = RssKiB(pid, true);
  hb_stop = true;
  heartbeats.join();

  double p50 = Percentile(lat, 50), p99 = Percentile(lat, 99), rtt50 = Percentile(rtt, 50) / 1000.0;
  std::printf(
      "perfgate dispatch benchmark (%d agents, %d jobs; controller on its embedded durable "
      "PostgreSQL)\n",
      agents, jobs);
  std::printf("  reference: gRPC round trip p50           %8.3f ms\n", rtt50);
  std::printf("  reference: DB single-row commits/s (2c)  %8.0f /s\n", ref_tps);
  std::printf("  dispatch latency submit->Assign p50      %8.3f ms  (%.1fx gRPC round trip)\n", p50,
              p50 / rtt50);
  std::printf("  dispatch latency submit->Assign p99      %8.3f ms  (target < 20 ms)\n", p99);
  std::printf(
      "  jobs claimed+completed per second        %8.0f /s  (%.2f of the DB commit rate; target >= "
      "1000)\n",
      jobs_per_s, jobs_per_s / ref_tps);
  std::printf(
      "  CPU per job: controller %.0f us, PostgreSQL %.0f us, simulated agents %.0f us (%.0f us of "
      "2 cores' %.0f)\n",
      ctl_us, pg_us, agents_us, ctl_us + pg_us + agents_us, 2e6 / jobs_per_s);
  std::printf("  controller RSS after %d jobs             %8.1f MiB\n", jobs,
              rss_after_jobs / 1024.0);
  std::printf(
      "  controller RSS with %d agents connected %8.1f MiB  (peak %.1f MiB; target < 64 MB)\n",
      idle_agents, rss / 1024.0, hwm / 1024.0);
  out = {{"rtt_p50_ms", rtt50},
         {"db_commits_per_s", ref_tps},
         {"dispatch_p50_ms", p50},
         {"dispatch_p99_ms", p99},
         {"jobs_per_s", jobs_per_s},
         {"rss_mib_after_jobs", rss_after_jobs / 1024.0},
         {"rss_mib_connected", rss / 1024.0},
         {"rss_peak_mib", hwm / 1024.0},
         {"cpu_us_per_job_controller", ctl_us},
         {"cpu_us_per_job_postgres", pg_us},
         {"cpu_us_per_job_agents", agents_us}};
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  sims.clear();
  int code = stop(0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return code;
}
