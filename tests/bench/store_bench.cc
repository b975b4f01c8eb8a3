// The store at fleet scale (issue 17): the real perfgate-controller on a store filled through
// the store's own code (submit, claim, accept, results by COPY, complete: the rows a lab writes),
// measured at 10^3 and then 10^4 runs, and with 1,000 simulated agents connected.
//
// Measures, in one invocation:
//   reference: GET /healthz (an HTTP round trip to the controller, no database) and GetRun of
//              one run (a one-row read);
//   the runs page, a candidate's comparison page (its stored comparison), `perfgate history` of
//   1,000 points (GetHistory) and one comparison computed afresh (CompareRun with
//   against_run_id, what the analyser does per candidate): p50 and p99 over --samples calls
//   each (a comparison, ~100 ms: a tenth as many), at a tenth of --runs and at --runs, and how
//   each grew. (With 100 calls a p99 is the second-slowest call: one scheduling stall of the
//   shared machine, which a direct SQL loop also shows about once in 5,000 calls, decided it.)
//   fleet: controller RSS before and with --agents simulated agents connected (each its own
//   connection and Session stream) on --agent-listen, against the same number connected to the
//   API's port first (the reference; they leave before the fleet comes), and controller CPU per
//   heartbeat while each agent sends one every 10 s (the agents' default), over the controller's
//   idle CPU in an equal window.
// Bounded: every phase has a deadline; the store lives in a private PostgreSQL, removed at exit.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/process/proc_stats.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_agent_store.h"
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_result_store.h"
#include "perfgate/v1/controller.grpc.pb.h"
#include "tests/bench/bench_support.h"
#include "tests/harness/test_postgres.h"

namespace {

using namespace perfgate;

// Fills the store up to `runs` baseline runs of one suite on main (one job, `reps`
// repetitions of `metrics` measurements each), as two agents would through the store.
class Filler {
 public:
  Filler(controller::PgPool& pool, int reps, int metrics)
      : jobs_(pool, controller::RetryPolicy{}, controller::QueueTimings{}),
        agents_(pool, controller::RetryPolicy{}, controller::QueueTimings{}),
        results_(pool),
        reps_(reps),
        metrics_(metrics) {
    Connect();
  }

  // The two filling agents' sessions (again after a controller marked them offline); each
  // takes only the jobs its own thread submits (a selector on its name).
  void Connect() {
    for (const char* name : {"fill-1", "fill-2"}) {
      v1::Hello h;
      h.set_name(name);
      h.set_capacity(1);
      (*h.mutable_labels())["machine_class"] = "bench";
      (*h.mutable_labels())["filler"] = name;
      if (!agents_.StartSession(h, "bench").ok()) std::abort();
    }
  }

  // One run through its whole life; false on any error (printed).
  bool Run(const std::string& agent, int64_t i, v1::RunKind kind, const std::string& branch) {
    v1::RunSpec spec;
    if (kind == v1::RUN_KIND_CANDIDATE) spec.set_baseline_branch("main");
    spec.set_project("bench");
    spec.set_branch(branch);
    spec.set_commit(absl::StrFormat("%040x", i));
    spec.set_kind(kind);
    spec.set_suite_name("bench");
    auto* job = spec.add_jobs();
    job->set_name("api");
    job->set_max_attempts(1);
    (*job->mutable_agent_selector())["filler"] = agent;
    job->mutable_command()->set_command("true");
    auto run = jobs_.SubmitRun(spec);
    if (!run.ok()) return Fail("submit", run.status());
    // A claim can come back empty while the other filling thread's claim holds the page this
    // job is on (FOR UPDATE SKIP LOCKED): try again.
    absl::StatusOr<std::optional<v1::Assign>> claim = std::nullopt;
    for (int tries = 0; tries < 100 && claim.ok() && !claim->has_value(); ++tries) {
      if (tries > 0) absl::SleepFor(absl::Milliseconds(5));
      claim = jobs_.ClaimJob(agent, nullptr);
    }
    if (!claim.ok() || !claim->has_value()) return Fail("claim", claim.status());
    const v1::Assign a = **claim;
    v1::AcceptAttemptRequest acc;
    acc.set_attempt_id(a.attempt_id());
    acc.set_epoch(a.epoch());
    acc.set_agent(agent);
    if (auto s = jobs_.AcceptAttempt(acc); !s.ok()) return Fail("accept", s);
    v1::UploadResultsRequest up;
    up.set_attempt_id(a.attempt_id());
    up.set_epoch(a.epoch());
    for (int r = 1; r <= reps_; ++r) {
      auto* rep = up.add_results();
      rep->set_repetition(r);
      rep->set_valid(true);
      for (int m = 0; m < metrics_; ++m) {
        auto* x = rep->add_measurements();
        x->set_name(absl::StrFormat("metric.%03d", m));
        x->set_unit("ms");
        x->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
        x->set_value(10 + m + 0.01 * ((i * 7 + r * 13 + m) % 17));
      }
    }
    if (auto s = results_.StoreResults(up); !s.ok()) return Fail("results", s.status());
    v1::CompleteAttemptRequest done;
    done.set_attempt_id(a.attempt_id());
    done.set_epoch(a.epoch());
    done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
    if (auto s = jobs_.CompleteAttempt(done); !s.ok()) return Fail("complete", s.status());
    last_run_ = run->id();
    return true;
  }

  // Baselines numbered [from, to) on two threads.
  bool Fill(int64_t from, int64_t to) {
    Connect();
    std::atomic<int64_t> next{from};
    std::atomic<bool> ok{true};
    std::vector<std::thread> ts;
    for (const char* agent : {"fill-1", "fill-2"}) {
      ts.emplace_back([&, agent] {
        for (int64_t i; ok && (i = next++) < to;) {
          if (!Run(agent, i, v1::RUN_KIND_BASELINE, "main")) ok = false;
          if (i % 1000 == 999) std::fprintf(stderr, "  filled %lld runs\n", (long long)i + 1);
        }
      });
    }
    for (auto& t : ts) t.join();
    return ok;
  }
  int64_t last_run() const { return last_run_; }

 private:
  static bool Fail(const char* what, const absl::Status& s) {
    std::cerr << "fill: " << what << ": " << s << "\n";
    return false;
  }
  controller::PgJobStore jobs_;
  controller::PgAgentStore agents_;
  controller::PgResultStore results_;
  const int reps_, metrics_;
  std::atomic<int64_t> last_run_{0};
};

struct Latency {
  double p50 = 0, p99 = 0;
};

// `samples` calls of `call` after one unmeasured (false: a failed call, which ends the
// benchmark).
std::optional<Latency> Measure(int samples, const std::function<bool()>& call) {
  if (!call()) return std::nullopt;  // a warm-up call: caches, prepared statements
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    absl::Time t0 = absl::Now();
    if (!call()) return std::nullopt;
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  return Latency{bench::Percentile(ms, 50), bench::Percentile(ms, 99)};
}

double CpuSeconds(pid_t pid) {
  auto s = common::ReadProcStats(pid);
  return s.ok() ? s->cpu_seconds : 0;
}
double RssMiB(pid_t pid) {
  auto s = common::ReadProcStats(pid);
  return s.ok() ? s->rss_bytes / 1048576.0 : -1;
}

}  // namespace

// main is the benchmark's script, read top to bottom as the README describes it.
int main(int argc, char** argv) {
  int runs = 10000, reps = 10, metrics = 100, agents = 1000, samples = 1000;
  std::string bin_dir;
  CLI::App app{
      "perfgate store benchmark: the controller's pages and queries at 10^3 and 10^4 "
      "runs, and 1,000 connected agents"};
  app.add_option("--bin-dir", bin_dir, "where perfgate-controller is")->required();
  app.add_option("--runs", runs,
                 "baseline runs in the store at the end (the first figures are at "
                 "a tenth of it)")
      ->capture_default_str()
      ->check(CLI::Range(100, 100000));
  app.add_option("--repetitions", reps, "repetitions per run")->capture_default_str();
  app.add_option("--metrics", metrics, "measurements per repetition")->capture_default_str();
  app.add_option("--agents", agents, "simulated agents for the fleet figures")
      ->capture_default_str();
  app.add_option("--samples", samples, "calls per measured query")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string dsn = testing::TestPostgres::Get().NewDatabase();
  auto pool = controller::PgPool::Create(dsn, 4);
  if (!pool.ok() || !controller::ApplyMigrations(**pool, controller::BuiltinMigrations()).ok()) {
    std::cerr << "cannot prepare the store\n";
    return 1;
  }
  Filler filler(**pool, reps, metrics);
  char tmpl[] = "/tmp/perfgate-store-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);

  struct Figures {
    int64_t runs;
    double fill_s;
    Latency health, get_run, runs_page, compare_page, history, compare;
  };
  std::vector<Figures> rows;
  int64_t filled = 0;
  for (const int64_t target : {static_cast<int64_t>(runs) / 10, static_cast<int64_t>(runs)}) {
    const absl::Time f0 = absl::Now();
    if (!filler.Fill(filled, target)) return 1;
    filled = target;
    const int64_t baseline = filler.last_run();
    // A candidate on a branch, compared afresh with the newest baseline each call.
    if (!filler.Run("fill-1", target, v1::RUN_KIND_CANDIDATE, "feature")) return 1;
    const int64_t candidate = filler.last_run();
    const double fill_s = absl::ToDoubleSeconds(absl::Now() - f0);
    // Steady state, as autovacuum keeps a lab's tables: statistics for the planner, the
    // visibility map for index-only scans. (Measured right after a bulk fill instead, one
    // history call in a hundred took seconds.)
    {
      pqxx::connection c(dsn);
      pqxx::nontransaction(c).exec("VACUUM ANALYZE");
    }
    // The analyser would compare every new run at start: only the candidate is left to it
    // (its stored comparison is what the comparison page shows).
    (void)(*pool)->Transact([candidate](pqxx::work& tx) {
      tx.exec("UPDATE runs SET analysed_at = now() WHERE analysed_at IS NULL AND id <> " +
              std::to_string(candidate));
      return absl::OkStatus();
    });
    const std::string cdir = dir + "/c" + std::to_string(target);
    mkdir(cdir.c_str(), 0755);
    auto controller = bench::BenchController::Start(
        bin_dir, cdir,
        {"--postgres-dsn", dsn, "--retain-logs-days", "0", "--agent-listen", "127.0.0.1:0"});
    if (!controller) return 1;
    auto stub = v1::Controller::NewStub(
        grpc::CreateChannel(controller->grpc_addr(), grpc::InsecureChannelCredentials()));
    httplib::Client http("127.0.0.1", controller->http_port());
    http.set_read_timeout(60, 0);
    auto get = [&](const std::string& path) {
      auto r = http.Get(path.c_str());
      if (!r || r->status != 200) std::cerr << "GET " << path << " failed\n";
      return r && r->status == 200;
    };
    auto grpc_ok = [](const grpc::Status& s, const char* what) {
      if (!s.ok()) std::cerr << what << ": " << s.error_message() << "\n";
      return s.ok();
    };
    if (!bench::WaitFor(
            [&] {
              grpc::ClientContext ctx;
              v1::CompareRunRequest req;
              req.set_run_id(candidate);
              v1::Comparison c;
              return stub->CompareRun(&ctx, req, &c).ok();
            },
            absl::Seconds(60))) {
      std::cerr << "the candidate was never analysed\n";
      return 1;
    }
    Figures f{target, fill_s};
    auto ok = [&](std::optional<Latency> l, Latency* out) {
      if (l) *out = *l;
      return l.has_value();
    };
    const bool all =
        ok(Measure(samples, [&] { return get("/healthz"); }), &f.health) &&
        ok(Measure(samples,
                   [&] {
                     grpc::ClientContext ctx;
                     v1::GetRunRequest req;
                     req.set_id(baseline);
                     v1::Run r;
                     return grpc_ok(stub->GetRun(&ctx, req, &r), "GetRun");
                   }),
           &f.get_run) &&
        ok(Measure(samples, [&] { return get("/runs"); }), &f.runs_page) &&
        ok(Measure(samples, [&] { return get(absl::StrFormat("/runs/%d/compare", candidate)); }),
           &f.compare_page) &&
        ok(Measure(samples,
                   [&] {
                     grpc::ClientContext ctx;
                     v1::GetHistoryRequest req;
                     req.set_project("bench");
                     req.set_branch("main");
                     req.set_suite_name("bench");
                     req.set_metric("metric.050");
                     req.set_limit(1000);
                     v1::History h;
                     return grpc_ok(stub->GetHistory(&ctx, req, &h), "GetHistory") &&
                            h.points_size() == std::min<int64_t>(1000, target);
                   }),
           &f.history) &&
        ok(Measure(std::max(20, samples / 10),
                   [&] {
                     grpc::ClientContext ctx;
                     v1::CompareRunRequest req;
                     req.set_run_id(candidate);
                     req.set_against_run_id(baseline);
                     v1::Comparison c;
                     return grpc_ok(stub->CompareRun(&ctx, req, &c), "CompareRun");
                   }),
           &f.compare);
    if (!all) return 1;
    rows.push_back(f);

    if (target == runs) {
      // The fleet: agents connect, then heartbeat every 10 s, spread over the interval; first,
      // as the reference, the same number on the API's port (--grpc-listen), then gone.
      const pid_t pid = controller->pid();
      auto connect = [&](const std::string& addr, const char* prefix) {
        std::vector<std::unique_ptr<bench::SimAgent>> sims;
        for (int i = 0; i < agents; ++i) {
          bench::SimAgent::Options o;
          o.labels["machine_class"] = "fleet";
          sims.push_back(
              std::make_unique<bench::SimAgent>(addr, absl::StrFormat("%s-%04d", prefix, i), o));
        }
        if (!bench::WaitFor([&] { return bench::ConnectedAgents(*stub) >= agents; },
                            absl::Seconds(120))) {
          std::cerr << "only " << bench::ConnectedAgents(*stub) << " agents connected\n";
          sims.clear();
        }
        return sims;
      };
      // After the controller's periodic return of free memory (every 30 s), so that "before"
      // is its steady state, not the residue of the queries just measured.
      absl::SleepFor(absl::Seconds(32));
      const double idle_rss = RssMiB(pid);
      double api_rss = 0;
      {
        auto sims = connect(controller->grpc_addr(), "api");
        if (sims.empty()) return 1;
        // As long as the fleet below is connected when it is measured (two returns of free
        // memory).
        absl::SleepFor(absl::Seconds(61));
        api_rss = RssMiB(pid);
      }
      if (!bench::WaitFor([&] { return bench::ConnectedAgents(*stub) == 0; }, absl::Seconds(60))) {
        std::cerr << bench::ConnectedAgents(*stub) << " reference agents still connected\n";
        return 1;
      }
      absl::SleepFor(absl::Seconds(32));
      const double between_rss = RssMiB(pid);
      auto sims = connect(controller->agent_addr(), "fleet");
      if (sims.empty()) return 1;
      const absl::Duration window = absl::Seconds(30), every = absl::Seconds(10);
      // Reference: the controller's own CPU over the same window with the agents connected
      // and silent (its sweeps, polls and listener), subtracted from the heartbeats' window.
      const double idle0 = CpuSeconds(pid);
      absl::SleepFor(window);
      const double idle_cpu = CpuSeconds(pid) - idle0;
      const double cpu0 = CpuSeconds(pid);
      const absl::Time w0 = absl::Now();
      int64_t beats = 0;
      for (int round = 0; absl::Now() - w0 < window; ++round) {
        for (size_t i = 0; i < sims.size(); ++i) {
          // Agent i beats at w0 + round * every + i * every / agents.
          const absl::Time at = w0 + round * every + every * (static_cast<double>(i) / agents);
          if (at > w0 + window) break;
          if (absl::Now() < at) absl::SleepFor(at - absl::Now());
          sims[i]->Heartbeat();
          ++beats;
        }
      }
      absl::SleepFor(absl::Seconds(1));
      const double cpu = CpuSeconds(pid) - cpu0 - idle_cpu, fleet_rss = RssMiB(pid);
      auto per_agent = [&](double rss, double before) { return (rss - before) * 1024 / agents; };
      std::printf(
          "fleet: %d simulated agents, each its own connection and Session stream\n"
          "  controller RSS before they connect           %8.1f MiB\n"
          "  reference: %d agents on --grpc-listen      %8.1f MiB  (%.1f KiB per agent)\n"
          "  after they left                              %8.1f MiB\n"
          "  controller RSS, %d agents on --agent-listen %8.1f MiB  (%.1f KiB per agent over "
          "before; x%.2f of the reference; target < 64 MiB)\n"
          "  controller CPU per heartbeat                 %8.1f us  (%lld heartbeats in %.0f s: "
          "%.1f%% of a core over its idle %.1f%%)\n\n",
          agents, idle_rss, agents, api_rss, per_agent(api_rss, idle_rss), between_rss, agents,
          fleet_rss, per_agent(fleet_rss, idle_rss), fleet_rss / api_rss, cpu * 1e6 / beats,
          (long long)beats, absl::ToDoubleSeconds(window),
          100 * cpu / absl::ToDoubleSeconds(window),
          100 * idle_cpu / absl::ToDoubleSeconds(window));
      sims.clear();
    }
    controller->Stop();
  }

  std::printf(
      "store: %d repetitions x %d measurements per run (%lld measurements at the end); "
      "p50 / p99 in ms over %d calls (a comparison: %d)\n",
      reps, metrics, (long long)runs * reps * metrics, samples, std::max(20, samples / 10));
  std::printf("  %-38s", "");
  for (const auto& f : rows) std::printf(" %8lld runs      ", (long long)f.runs);
  std::printf(" growth p99  target\n");
  auto line = [&](const char* name, Latency Figures::*l, const char* target) {
    std::printf("  %-38s", name);
    for (const auto& f : rows) std::printf(" %7.2f / %7.2f ", (f.*l).p50, (f.*l).p99);
    std::printf("   x%-7.1f %s\n", (rows.back().*l).p99 / std::max(1e-3, (rows.front().*l).p99),
                target);
  };
  line("reference: GET /healthz", &Figures::health, "");
  line("reference: GetRun (one row)", &Figures::get_run, "");
  line("runs page (GET /runs)", &Figures::runs_page, "< 100 ms");
  line("comparison page (stored comparison)", &Figures::compare_page, "< 100 ms");
  line("history of 1,000 points (GetHistory)", &Figures::history, "< 100 ms");
  line("one comparison (CompareRun, afresh)", &Figures::compare, "< 200 ms");
  std::printf("  %-38s", "time to fill (s)");
  for (const auto& f : rows) std::printf(" %17.0f ", f.fill_s);
  std::printf("\n");
  return 0;
}
