// Detection benchmark: how often perfgate's verdicts are wrong on the sample target, measured
// through the real system (controller on its embedded PostgreSQL, one agent, the example suite
// deploy/examples/sample-target-suite.yaml with its default 9 repetitions).
//
// The system under test is one git repository with a commit per level: the baseline (1 ms of
// CPU work a request) and latency regressions of 2, 3, 5 and 10 % of the baseline's p50 added
// as CPU work (calibrated on the first baseline run). A few baseline runs come first (the
// history a lab has, from which each metric's noise is learned), then rounds: each round
// measures a baseline, an A/A candidate (the baseline's commit) and every injected level, in
// turn, so that a machine drifting over the invocation drifts under every level alike.
//
// Two measurements over the same runs:
//   first look  every pair of baseline runs compared (A/A), and every injected run against
//               every baseline run, with the controller's CompareRun against an explicit run:
//               the first comparison alone, before any second look;
//   pipeline    what a user gets: each candidate compared by the analyser with its branch's
//               newest baseline and, where that is inconclusive, decided by the interleaved
//               confirmation run the controller schedules (A B A B A B on the agent).
// A false positive is a metric judged regression or improvement for the same code; power is
// the share of injected runs whose http.latency.p50 is judged a regression.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace {

using namespace perfgate;

constexpr char kPrimary[] = "http.latency.p50";

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The 95 % Wilson interval of k successes in n, in percent: how much a rate measured on few
// comparisons can be trusted.
std::string Wilson(int k, int n) {
  if (n == 0) return "-";
  const double z = 1.96, p = static_cast<double>(k) / n;
  const double d = 1 + z * z / n, c = p + z * z / (2 * n);
  const double h = z * std::sqrt(p * (1 - p) / n + z * z / (4.0 * n * n));
  return absl::StrFormat("%.1f..%.1f %%", 100 * std::max(0.0, (c - h) / d),
                         100 * std::min(1.0, (c + h) / d));
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return cond();
}

// A child process with its output in a file, stopped (SIGTERM to its group) on destruction.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& log,
        std::map<std::string, std::string> env = {}) {
    FILE* f = fopen(log.c_str(), "w");
    common::SpawnOptions o;
    o.argv = std::move(argv);
    o.env_add = std::move(env);
    o.stdout_fd = fileno(f);
    o.stderr_fd = fileno(f);
    auto pid = common::Spawn(o);
    fclose(f);
    pid_ = pid.ok() ? *pid : -1;
  }
  ~Child() {
    if (pid_ <= 0) return;
    common::SignalGroup(pid_, SIGTERM).IgnoreError();
    if (!common::WaitFor(pid_, absl::Seconds(30)).ok()) {
      common::SignalGroup(pid_, SIGKILL).IgnoreError();
      common::WaitFor(pid_, absl::Seconds(5)).IgnoreError();
    }
  }
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// Runs a command to completion; exits the benchmark when it fails.
std::string Must(std::vector<std::string> argv, const std::string& cwd = "") {
  common::SpawnOptions o;
  o.argv = argv;
  o.working_dir = cwd;
  int code = 0;
  auto out = common::RunAndCapture(o, &code);
  if (!out.ok() || code != 0) {
    std::cerr << "detection_bench: " << argv[0] << " " << (argv.size() > 1 ? argv[1] : "")
              << " failed (" << code << "): " << (out.ok() ? *out : out.status().ToString())
              << "\n";
    std::exit(1);
  }
  return *out;
}

bool Flagged(v1::Verdict v) { return v == v1::VERDICT_REGRESSION || v == v1::VERDICT_IMPROVEMENT; }

// One commit of the system under test and the runs measured of it.
struct Level {
  double injected = 0;  // fraction of the baseline p50 added as CPU work per request
  std::string commit;
  std::vector<int64_t> runs;        // round runs (baselines: also the history runs)
  std::vector<int64_t> candidates;  // runs submitted as candidates (A/A for the baseline level)
  std::vector<double> p50_medians;  // per run, in measuring order
};

// The controller, its agent, the system under test and the suite; talks to the controller over
// its gRPC API and the perfgate CLI.
class Lab {
 public:
  Lab(std::string bin_dir, std::string dir) : bin_(std::move(bin_dir)), dir_(std::move(dir)) {}

  bool Start(const std::string& source_dir) {
    controller_ = std::make_unique<Child>(
        std::vector<std::string>{bin_ + "/perfgate-controller", "--data-dir", dir_ + "/controller",
                                 "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                 "--ready-file", dir_ + "/ready", "--log-level", "warn"},
        dir_ + "/controller.log");
    if (!controller_->ok() ||
        !WaitFor([&] { return access((dir_ + "/ready").c_str(), R_OK) == 0; }, absl::Seconds(90))) {
      std::cerr << "controller did not start; see " << dir_ << "/controller.log\n";
      return false;
    }
    auto ready = nlohmann::json::parse(std::ifstream(dir_ + "/ready"));
    addr_ = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
    stub_ = v1::Controller::NewStub(grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
    // The agent finds perfgate-sample-target on its PATH, as in the demo.
    agent_ = std::make_unique<Child>(
        std::vector<std::string>{bin_ + "/perfgate-agent", "--controller", addr_, "--name",
                                 "detection-agent", "--work-dir", dir_ + "/agent", "--http-listen",
                                 "127.0.0.1:0"},
        dir_ + "/agent.log",
        std::map<std::string, std::string>{
            {"PATH", bin_ + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin")}});
    if (!agent_->ok()) return false;
    sut_ = dir_ + "/sut";
    Must({"git", "init", "-q", sut_});
    Must({"git", "-C", sut_, "config", "user.email", "bench@perfgate.invalid"});
    Must({"git", "-C", sut_, "config", "user.name", "perfgate bench"});
    std::stringstream text;
    text << std::ifstream(source_dir + "/deploy/examples/sample-target-suite.yaml").rdbuf();
    suite_ = dir_ + "/suite.yaml";
    std::ofstream(suite_) << absl::StrReplaceAll(
        text.str(), {{"repository: /tmp/perfgate-demo/sut", "repository: " + sut_}});
    return true;
  }

  // A commit whose flags file holds `flags`.
  std::string Commit(const std::string& flags) {
    std::ofstream(sut_ + "/flags") << flags << "\n";
    Must({"git", "-C", sut_, "add", "flags"});
    Must({"git", "-C", sut_, "commit", "-q", "--allow-empty", "-m", flags});
    std::string head = Must({"git", "-C", sut_, "rev-parse", "HEAD"});
    return head.substr(0, head.find('\n'));
  }

  // kind "baseline" (branch main) or "candidate" (branch `branch`, compared with main).
  int64_t Submit(const std::string& commit, const std::string& kind, const std::string& branch) {
    std::string out = Must({bin_ + "/perfgate", "--controller", addr_, "-o", "json", "run",
                            "submit", "--suite", suite_, "--commit", commit, "--kind", kind,
                            "--branch", branch, "--baseline-branch", "main"});
    return std::stoll(nlohmann::json::parse(out)["id"].get<std::string>());
  }

  v1::Run GetRun(int64_t id) {
    grpc::ClientContext ctx;
    v1::GetRunRequest req;
    req.set_id(id);
    v1::Run run;
    stub_->GetRun(&ctx, req, &run).ok();
    return run;
  }

  static bool Terminal(const v1::Run& r) {
    return r.state() == v1::RUN_STATE_SUCCEEDED || r.state() == v1::RUN_STATE_FAILED ||
           r.state() == v1::RUN_STATE_CANCELLED;
  }

  void WaitSucceeded(int64_t id) {
    v1::Run run;
    bool done = WaitFor(
        [&] {
          run = GetRun(id);
          return Terminal(run);
        },
        absl::Minutes(15));
    if (!done || run.state() != v1::RUN_STATE_SUCCEEDED) {
      std::cerr << "run " << id << " did not succeed (perfgate run logs " << id << "; agent log "
                << dir_ << "/agent.log)\n";
      std::exit(1);
    }
  }

  // against 0: the stored latest comparison (the decision, once a confirmation decided).
  absl::StatusOr<v1::Comparison> Compare(int64_t cand, int64_t against) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
    v1::CompareRunRequest req;
    req.set_run_id(cand);
    req.set_against_run_id(against);
    v1::Comparison c;
    grpc::Status s = stub_->CompareRun(&ctx, req, &c);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return c;
  }

  v1::Comparison MustCompare(int64_t cand, int64_t against) {
    auto c = Compare(cand, against);
    if (!c.ok()) {
      std::cerr << "compare " << cand << " against " << against << ": " << c.status() << "\n";
      std::exit(1);
    }
    return *c;
  }

  // The candidate's final verdict: its stored comparison once the analyser made it, and the
  // decision of its confirmation run when it got one. `confirmation` is that run's id (0: none).
  v1::Comparison FinalComparison(int64_t cand, int64_t* confirmation) {
    *confirmation = 0;
    v1::Comparison c;
    if (!WaitFor([&] { return Compare(cand, 0).ok(); }, absl::Minutes(2))) {
      std::cerr << "run " << cand << " was never compared\n";
      std::exit(1);
    }
    c = *Compare(cand, 0);
    if (!absl::StrContains(c.note(), "confirmation run interleaving")) return c;
    // Scheduled: find the confirmation, wait for it and for its decision.
    WaitFor(
        [&] {
          grpc::ClientContext ctx;
          v1::ListRunsRequest req;
          req.set_kind(v1::RUN_KIND_EXPERIMENT);
          req.set_page_size(500);
          v1::ListRunsResponse resp;
          if (!stub_->ListRuns(&ctx, req, &resp).ok()) return false;
          for (const auto& r : resp.runs())
            if (r.confirms_run_id() == cand) *confirmation = r.id();
          return *confirmation != 0;
        },
        absl::Minutes(1));
    if (*confirmation == 0) return c;
    WaitFor([&] { return Terminal(GetRun(*confirmation)); }, absl::Minutes(30));
    WaitFor(
        [&] {
          auto d = Compare(cand, 0);
          if (d.ok()) c = *d;
          return absl::StrContains(c.note(), "decided by confirmation run");
        },
        absl::Minutes(1));
    return c;  // still inconclusive when the confirmation failed or measured nothing
  }

  // The median over a run's valid repetitions of the primary metric.
  double RunP50(int64_t id) {
    grpc::ClientContext ctx;
    v1::GetRunResultsRequest req;
    req.set_run_id(id);
    v1::RunResults r;
    std::vector<double> v;
    if (!stub_->GetRunResults(&ctx, req, &r).ok()) return 0.0;
    for (const auto& job : r.jobs())
      for (const auto& rep : job.repetitions())
        for (const auto& m : rep.measurements())
          if (rep.valid() && m.name() == kPrimary) v.push_back(m.value());
    return Median(v);
  }

  const std::string& dir() const { return dir_; }

 private:
  std::string bin_, dir_, addr_, sut_, suite_;
  std::unique_ptr<Child> controller_, agent_;
  std::unique_ptr<v1::Controller::Stub> stub_;
};

// Counts over metric verdicts: how many were compared, flagged, inconclusive.
struct Tally {
  int metrics = 0, flagged = 0, inconclusive = 0, comparisons = 0, comparisons_flagged = 0;
  std::map<std::string, int> by_metric;
  void Add(const v1::Comparison& c) {
    ++comparisons;
    bool any = false;
    for (const auto& m : c.metrics()) {
      ++metrics;
      inconclusive += m.verdict() == v1::VERDICT_INCONCLUSIVE;
      if (Flagged(m.verdict())) {
        ++flagged;
        ++by_metric[m.name()];
        any = true;
      }
    }
    comparisons_flagged += any;
  }
  void Print(const char* what) const {
    std::cout << absl::StrFormat(
        "  %s: %d comparisons, %d metric comparisons; false positives %d = %.2f %% (95 %% CI "
        "%s; target <= 1 %%); comparisons with any metric flagged %d; metrics inconclusive %d\n",
        what, comparisons, metrics, flagged, metrics ? 100.0 * flagged / metrics : 0,
        Wilson(flagged, metrics), comparisons_flagged, inconclusive);
    for (const auto& [name, n] : by_metric) std::cout << absl::StrFormat("    %-36s %d\n", name, n);
  }
  nlohmann::json Json() const {
    return {{"comparisons", comparisons},
            {"metric_comparisons", metrics},
            {"false_positives", flagged},
            {"comparisons_flagged", comparisons_flagged},
            {"inconclusive", inconclusive}};
  }
};

// Power at one level: the primary metric's verdicts.
struct Power {
  int comparisons = 0, detected = 0, run_regression = 0, inconclusive = 0, confirmed = 0;
  std::vector<double> ratios;
  void Add(const v1::Comparison& c) {
    ++comparisons;
    run_regression += c.verdict() == v1::VERDICT_REGRESSION;
    for (const auto& m : c.metrics()) {
      if (m.name() != kPrimary) continue;
      detected += m.verdict() == v1::VERDICT_REGRESSION;
      inconclusive += m.verdict() == v1::VERDICT_INCONCLUSIVE;
      ratios.push_back(m.ratio());
    }
  }
};

void PrintPowerTable(const std::vector<Level>& levels, const std::vector<Power>& power,
                     double base_median, bool pipeline, nlohmann::json* out) {
  std::cout << absl::StrFormat("  %-9s %-13s %-12s %-12s %-26s %-16s %s\n", "injected",
                               "realised p50", "median ratio", "comparisons",
                               "p50 regression (power)", "run regression",
                               pipeline ? "p50 inconclusive / confirmed" : "p50 inconclusive");
  for (size_t li = 1; li < levels.size(); ++li) {
    const Power& p = power[li];
    const double realised = base_median > 0 ? Median(levels[li].p50_medians) / base_median - 1 : 0;
    std::cout << absl::StrFormat(
        "  %-9s %-13s %-12.3f %-12d %-26s %-16s %d%s\n",
        absl::StrFormat("+%.0f %%", levels[li].injected * 100),
        absl::StrFormat("%+.1f %%", realised * 100), Median(p.ratios), p.comparisons,
        absl::StrFormat("%d (%.0f %%; CI %s)", p.detected,
                        p.comparisons ? 100.0 * p.detected / p.comparisons : 0,
                        Wilson(p.detected, p.comparisons)),
        absl::StrFormat("%d (%.0f %%)", p.run_regression,
                        p.comparisons ? 100.0 * p.run_regression / p.comparisons : 0),
        p.inconclusive, pipeline ? absl::StrCat(" / ", p.confirmed) : "");
    out->push_back({{"injected", levels[li].injected},
                    {"realised", realised},
                    {"comparisons", p.comparisons},
                    {"detected", p.detected},
                    {"run_regression", p.run_regression},
                    {"inconclusive", p.inconclusive},
                    {"confirmed", p.confirmed}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin_dir, source_dir, json_out;
  int rounds = 4, history = 3;
  std::vector<double> levels_pct = {2, 3, 5, 10};
  CLI::App app{"perfgate detection benchmark: false positives and power at injected shifts, at "
               "the first comparison and through the whole pipeline (confirmation runs included)"};
  app.add_option("--bin-dir", bin_dir, "where the perfgate binaries are")->required();
  app.add_option("--source-dir", source_dir, "the perfgate checkout (for the example suite)")
      ->required();
  app.add_option("--rounds", rounds,
                 "rounds; each measures a baseline, an A/A candidate and every level once")
      ->capture_default_str()
      ->check(CLI::Range(1, 50));
  app.add_option("--history", history,
                 "baseline runs before the rounds (the history noise is learned from; a metric "
                 "needs 3 runs for its run-to-run noise)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--levels", levels_pct, "injected latency regressions, in % of the p50")
      ->capture_default_str();
  app.add_option("--json", json_out, "also write the figures here");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/perfgate-detection-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::cout << "perfgate detection benchmark (work dir " << dir << ")\n";
  Lab lab(bin_dir, dir);
  if (!lab.Start(source_dir)) return 1;

  // Calibration: the first baseline run sets the size of a 1 % shift.
  std::vector<Level> levels(1 + levels_pct.size());
  levels[0].commit = lab.Commit("--cpu-burn 1000us");
  const absl::Time t0 = absl::Now();
  std::cout << "calibrating on a first baseline run (9 repetitions of 3 s)...\n" << std::flush;
  const int64_t first = lab.Submit(levels[0].commit, "baseline", "main");
  lab.WaitSucceeded(first);
  const double base_p50_ms = lab.RunP50(first);
  if (base_p50_ms <= 0) {
    std::cerr << "the first baseline run has no " << kPrimary << "\n";
    return 1;
  }
  levels[0].runs.push_back(first);
  levels[0].p50_medians.push_back(base_p50_ms);
  for (size_t i = 0; i < levels_pct.size(); ++i) {
    Level& l = levels[i + 1];
    l.injected = levels_pct[i] / 100;
    const int burn_us = static_cast<int>(std::lround(1000 + l.injected * base_p50_ms * 1000));
    l.commit = lab.Commit(absl::StrCat("--cpu-burn ", burn_us, "us"));
  }
  std::cout << absl::StrFormat("baseline p50 %.3f ms: a 1 %% shift is %.1f us of CPU work\n",
                               base_p50_ms, base_p50_ms * 10)
            << std::flush;

  // History, then the rounds (in submission order: one agent runs them one after another, and
  // confirmation runs queue behind them).
  struct Queued {
    size_t level;
    int64_t id;
    bool candidate;
  };
  std::vector<Queued> queued;
  for (int h = 1; h < history; ++h) queued.push_back({0, lab.Submit(levels[0].commit, "baseline", "main"), false});
  for (int r = 0; r < rounds; ++r) {
    queued.push_back({0, lab.Submit(levels[0].commit, "baseline", "main"), false});
    queued.push_back({0, lab.Submit(levels[0].commit, "candidate", "aa"), true});
    for (size_t li = 1; li < levels.size(); ++li)
      queued.push_back({li, lab.Submit(levels[li].commit, "candidate", "injected"), true});
  }
  int done = 0;
  for (const Queued& q : queued) {
    lab.WaitSucceeded(q.id);
    Level& l = levels[q.level];
    (q.candidate ? l.candidates : l.runs).push_back(q.id);
    if (q.level > 0 || !q.candidate) l.p50_medians.push_back(lab.RunP50(q.id));
    std::cout << absl::StrFormat("  run %d measured (%d of %d, %.0f s so far)\n", q.id, ++done,
                                 queued.size(), absl::ToDoubleSeconds(absl::Now() - t0))
              << std::flush;
  }
  // The injected runs were submitted as candidates: they are that level's runs too.
  for (size_t li = 1; li < levels.size(); ++li) levels[li].runs = levels[li].candidates;

  // First look: every pair of baseline runs (the later as the candidate), every injected run
  // against every baseline run.
  const auto& base_runs = levels[0].runs;
  Tally first_aa;
  std::vector<double> floors, margins;
  for (size_t i = 0; i < base_runs.size(); ++i) {
    for (size_t j = i + 1; j < base_runs.size(); ++j) {
      const v1::Comparison c = lab.MustCompare(base_runs[j], base_runs[i]);
      first_aa.Add(c);
      for (const auto& m : c.metrics()) {
        if (m.name() != kPrimary) continue;
        floors.push_back(m.floor());
        margins.push_back(m.margin());
      }
    }
  }
  std::vector<Power> first_power(levels.size());
  for (size_t li = 1; li < levels.size(); ++li)
    for (int64_t cand : levels[li].runs)
      for (int64_t base : base_runs) first_power[li].Add(lab.MustCompare(cand, base));

  // The pipeline: each candidate's final verdict.
  std::cout << "waiting for the analyser's verdicts and confirmation runs...\n" << std::flush;
  Tally pipe_aa;
  std::vector<Power> pipe_power(levels.size());
  int confirmations = 0;
  absl::Duration confirm_time;
  for (size_t li = 0; li < levels.size(); ++li) {
    for (int64_t cand : levels[li].candidates) {
      int64_t conf = 0;
      const v1::Comparison c = lab.FinalComparison(cand, &conf);
      if (conf) {
        ++confirmations;
        // Agent time: from each job's claim to its end (not the wait in the queue).
        const v1::Run run = lab.GetRun(conf);
        for (const auto& j : run.jobs()) {
          if (j.attempts().empty()) continue;
          const auto& a = j.attempts(j.attempts_size() - 1);
          confirm_time += absl::Seconds(a.finished_at().seconds() - a.created_at().seconds());
        }
      }
      if (li == 0) {
        pipe_aa.Add(c);
      } else {
        pipe_power[li].Add(c);
        pipe_power[li].confirmed += conf != 0;
      }
    }
  }

  const double base_median = Median(levels[0].p50_medians);
  std::cout << "\n"
            << absl::StrFormat(
                   "perfgate detection: sample target, example suite (9 repetitions x 3 s, 400 "
                   "req/s), %d history + %d rounds, %.0f min\n\n",
                   history, rounds, absl::ToDoubleMinutes(absl::Now() - t0));
  std::cout << "run medians of " << kPrimary << " (ms) by level, in measuring order:\n";
  for (const Level& l : levels) {
    std::cout << absl::StrFormat("  %+4.0f %%:", l.injected * 100);
    for (double v : l.p50_medians) std::cout << absl::StrFormat(" %.3f", v);
    std::cout << "\n";
  }
  double mean = 0, var = 0;
  for (double v : levels[0].p50_medians) mean += v / levels[0].p50_medians.size();
  for (double v : levels[0].p50_medians)
    var += (v - mean) * (v - mean) / std::max<size_t>(1, levels[0].p50_medians.size() - 1);
  std::cout << absl::StrFormat(
      "  baseline run-to-run CV of the p50: %.2f %%; in the A/A comparisons its floor was "
      "median %.2f %%, its run-noise margin median %.2f %%\n\n",
      mean > 0 ? 100 * std::sqrt(var) / mean : 0, 100 * Median(floors), 100 * Median(margins));

  nlohmann::json out = {{"rounds", rounds}, {"history", history}};
  std::cout << "FIRST LOOK (one comparison against an explicit run; no second look)\n";
  first_aa.Print("A/A, every pair of baseline runs");
  out["first_look"] = {{"aa", first_aa.Json()}, {"levels", nlohmann::json::array()}};
  PrintPowerTable(levels, first_power, base_median, false, &out["first_look"]["levels"]);

  std::cout << "\nPIPELINE (each candidate against its newest baseline; inconclusive ones "
               "decided by the interleaved confirmation run)\n";
  pipe_aa.Print("A/A candidates");
  out["pipeline"] = {{"aa", pipe_aa.Json()},
                     {"confirmations", confirmations},
                     {"confirmation_minutes", absl::ToDoubleMinutes(confirm_time)},
                     {"levels", nlohmann::json::array()}};
  PrintPowerTable(levels, pipe_power, base_median, true, &out["pipeline"]["levels"]);
  const int candidates = static_cast<int>(levels[0].candidates.size()) +
                         rounds * static_cast<int>(levels.size() - 1);
  std::cout << absl::StrFormat(
      "  confirmation runs: %d of %d candidates (%.1f min of agent time, %.1f min each)\n",
      confirmations, candidates, absl::ToDoubleMinutes(confirm_time),
      confirmations ? absl::ToDoubleMinutes(confirm_time) / confirmations : 0);
  std::cout << "\n(targets: A/A false positives <= 1 % of metric comparisons; power >= 95 % at "
               "+5 %; realised = median run p50 of the level against the baselines')\n";
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}
