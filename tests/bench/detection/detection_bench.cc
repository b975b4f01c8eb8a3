// Detection benchmark: how often perfgate's verdicts are wrong on the sample target, measured
// through the real system (controller on its embedded PostgreSQL, one agent, the example suite
// deploy/examples/sample-target-suite.yaml with its default 9 repetitions).
//
//   false positives: pairs of baseline runs of the same code (A/A) compared with each other;
//                    every compared metric judged regression or improvement is a false positive.
//   power:           runs with a latency regression of 2, 3, 5 and 10 % injected (CPU work per
//                    request, calibrated on the first baseline's p50), each compared with every
//                    baseline run; detected when http.latency.p50 is judged a regression.
//
// Runs are measured in rounds (every level once per round, in turn), so that a machine that
// drifts over the invocation drifts under every level alike. Comparisons are made with the
// controller's own CompareRun (against an explicit run), the same code that judges candidates;
// the noise it uses is learned from the baseline runs measured here. Confirmation runs are off:
// this measures the first comparison, before any second look.
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

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(100));
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

struct Level {
  double injected = 0;  // fraction of the baseline p50 added as CPU work per request
  std::string commit;
  std::vector<int64_t> runs;
  std::vector<double> p50_medians;  // per run
};

}  // namespace

int main(int argc, char** argv) {
  std::string bin_dir, source_dir, json_out;
  int rounds = 5;
  std::vector<double> levels_pct = {2, 3, 5, 10};
  CLI::App app{"perfgate detection benchmark: A/A false positives and power at injected shifts"};
  app.add_option("--bin-dir", bin_dir, "where the perfgate binaries are")->required();
  app.add_option("--source-dir", source_dir, "the perfgate checkout (for the example suite)")
      ->required();
  app.add_option("--rounds", rounds,
                 "runs per level (each round measures every level once); the A/A pairs grow as "
                 "rounds*(rounds-1)/2")
      ->capture_default_str()
      ->check(CLI::Range(2, 50));
  app.add_option("--levels", levels_pct, "injected latency regressions, in % of the p50")
      ->capture_default_str();
  app.add_option("--json", json_out, "also write the figures here");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/perfgate-detection-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::cout << "perfgate detection benchmark (work dir " << dir << ")\n";

  Child controller({bin_dir + "/perfgate-controller", "--data-dir", dir + "/controller",
                    "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--ready-file",
                    dir + "/ready", "--no-confirm-inconclusive", "--log-level", "warn"},
                   dir + "/controller.log");
  if (!controller.ok() ||
      !WaitFor([&] { return access((dir + "/ready").c_str(), R_OK) == 0; }, absl::Seconds(90))) {
    std::cerr << "controller did not start; see " << dir << "/controller.log\n";
    return 1;
  }
  auto ready = nlohmann::json::parse(std::ifstream(dir + "/ready"));
  const std::string addr = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
  auto stub =
      v1::Controller::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  // The agent finds perfgate-sample-target on its PATH, as in the demo.
  Child agent({bin_dir + "/perfgate-agent", "--controller", addr, "--name", "detection-agent",
               "--work-dir", dir + "/agent", "--http-listen", "127.0.0.1:0"},
              dir + "/agent.log",
              {{"PATH", bin_dir + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin")}});
  if (!agent.ok()) return 1;

  // The system under test: one commit per level, its flags file the CPU work per request.
  const std::string sut = dir + "/sut";
  Must({"git", "init", "-q", sut});
  Must({"git", "-C", sut, "config", "user.email", "bench@perfgate.invalid"});
  Must({"git", "-C", sut, "config", "user.name", "perfgate bench"});
  auto commit_flags = [&](const std::string& flags) {
    std::ofstream(sut + "/flags") << flags << "\n";
    Must({"git", "-C", sut, "add", "flags"});
    Must({"git", "-C", sut, "commit", "-q", "--allow-empty", "-m", flags});
    std::string head = Must({"git", "-C", sut, "rev-parse", "HEAD"});
    return head.substr(0, head.find('\n'));
  };
  std::stringstream suite_text;
  suite_text << std::ifstream(source_dir + "/deploy/examples/sample-target-suite.yaml").rdbuf();
  const std::string suite = dir + "/suite.yaml";
  std::ofstream(suite) << absl::StrReplaceAll(
      suite_text.str(), {{"repository: /tmp/perfgate-demo/sut", "repository: " + sut}});

  auto submit = [&](const Level& l) -> int64_t {
    const bool baseline = l.injected == 0;
    std::string out = Must({bin_dir + "/perfgate", "--controller", addr, "-o", "json", "run",
                            "submit", "--suite", suite, "--commit", l.commit, "--kind",
                            baseline ? "baseline" : "candidate", "--branch",
                            baseline ? "main" : "injected", "--baseline-branch", "main"});
    return std::stoll(nlohmann::json::parse(out)["id"].get<std::string>());
  };
  auto wait_run = [&](int64_t id) {
    v1::Run run;
    bool done = WaitFor(
        [&] {
          grpc::ClientContext ctx;
          v1::GetRunRequest req;
          req.set_id(id);
          return stub->GetRun(&ctx, req, &run).ok() &&
                 (run.state() == v1::RUN_STATE_SUCCEEDED || run.state() == v1::RUN_STATE_FAILED ||
                  run.state() == v1::RUN_STATE_CANCELLED);
        },
        absl::Minutes(15));
    if (!done || run.state() != v1::RUN_STATE_SUCCEEDED) {
      std::cerr << "run " << id << " did not succeed (perfgate run logs " << id
                << "; agent log " << dir << "/agent.log)\n";
      std::exit(1);
    }
  };
  auto compare = [&](int64_t cand, int64_t against) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
    v1::CompareRunRequest req;
    req.set_run_id(cand);
    req.set_against_run_id(against);
    v1::Comparison c;
    grpc::Status s = stub->CompareRun(&ctx, req, &c);
    if (!s.ok()) {
      std::cerr << "compare " << cand << " against " << against << ": " << s.error_message()
                << "\n";
      std::exit(1);
    }
    return c;
  };
  // The median over a run's valid repetitions of the primary metric.
  auto run_p50 = [&](int64_t id) {
    grpc::ClientContext ctx;
    v1::GetRunResultsRequest req;
    req.set_run_id(id);
    v1::RunResults r;
    std::vector<double> v;
    if (!stub->GetRunResults(&ctx, req, &r).ok()) return 0.0;
    for (const auto& job : r.jobs())
      for (const auto& rep : job.repetitions())
        for (const auto& m : rep.measurements())
          if (rep.valid() && m.name() == kPrimary) v.push_back(m.value());
    return Median(v);
  };

  // Calibration: the first baseline run sets the size of a 1 % shift.
  std::vector<Level> levels(1 + levels_pct.size());
  levels[0].commit = commit_flags("--cpu-burn 1000us");
  const absl::Time t0 = absl::Now();
  std::cout << "calibrating on a first baseline run (9 repetitions of 3 s)...\n" << std::flush;
  int64_t first = submit(levels[0]);
  wait_run(first);
  levels[0].runs.push_back(first);
  levels[0].p50_medians.push_back(run_p50(first));
  const double base_p50_ms = run_p50(first);
  if (base_p50_ms <= 0) {
    std::cerr << "the first baseline run has no " << kPrimary << "\n";
    return 1;
  }
  for (size_t i = 0; i < levels_pct.size(); ++i) {
    Level& l = levels[i + 1];
    l.injected = levels_pct[i] / 100;
    const int burn_us = static_cast<int>(std::lround(1000 + l.injected * base_p50_ms * 1000));
    l.commit = commit_flags(absl::StrCat("--cpu-burn ", burn_us, "us"));
  }
  std::cout << absl::StrFormat("baseline p50 %.3f ms: a 1 %% shift is %.1f us of CPU work\n",
                               base_p50_ms, base_p50_ms * 10)
            << std::flush;

  // The rounds: every level once per round (the calibration run is round 1's baseline).
  std::vector<std::pair<size_t, int64_t>> queued;
  for (int r = 0; r < rounds; ++r) {
    for (size_t li = 0; li < levels.size(); ++li) {
      if (r == 0 && li == 0) continue;
      queued.emplace_back(li, submit(levels[li]));
    }
  }
  int done = 0;
  for (auto& [li, id] : queued) {
    wait_run(id);
    levels[li].runs.push_back(id);
    levels[li].p50_medians.push_back(run_p50(id));
    ++done;
    std::cout << absl::StrFormat("  run %d measured (%d of %d, %.0f s so far)\n", id, done,
                                 queued.size(), absl::ToDoubleSeconds(absl::Now() - t0))
              << std::flush;
  }

  // A/A: every pair of baseline runs, the later one as the candidate.
  const auto& base_runs = levels[0].runs;
  int aa_metrics = 0, aa_false = 0, aa_inconclusive = 0, aa_pairs = 0, aa_runs_flagged = 0;
  std::map<std::string, int> false_by_metric;
  std::vector<double> aa_floors;  // the effect floor the A/A comparisons used on the p50
  for (size_t i = 0; i < base_runs.size(); ++i) {
    for (size_t j = i + 1; j < base_runs.size(); ++j) {
      v1::Comparison c = compare(base_runs[j], base_runs[i]);
      ++aa_pairs;
      bool flagged = false;
      for (const auto& m : c.metrics()) {
        ++aa_metrics;
        if (m.verdict() == v1::VERDICT_REGRESSION || m.verdict() == v1::VERDICT_IMPROVEMENT) {
          ++aa_false;
          ++false_by_metric[m.name()];
          flagged = true;
        }
        aa_inconclusive += m.verdict() == v1::VERDICT_INCONCLUSIVE;
        if (m.name() == kPrimary) aa_floors.push_back(m.floor());
      }
      aa_runs_flagged += flagged;
    }
  }
  // Power: every injected run against every baseline run.
  struct Power {
    int comparisons = 0, detected = 0, run_regression = 0, inconclusive = 0;
    std::vector<double> ratios;
  };
  std::vector<Power> power(levels.size());
  for (size_t li = 1; li < levels.size(); ++li) {
    for (int64_t cand : levels[li].runs) {
      for (size_t bi = 0; bi < base_runs.size(); ++bi) {
        v1::Comparison c = compare(cand, base_runs[bi]);
        Power& p = power[li];
        ++p.comparisons;
        p.run_regression += c.verdict() == v1::VERDICT_REGRESSION;
        for (const auto& m : c.metrics()) {
          if (m.name() != kPrimary) continue;
          p.detected += m.verdict() == v1::VERDICT_REGRESSION;
          p.inconclusive += m.verdict() == v1::VERDICT_INCONCLUSIVE;
          p.ratios.push_back(m.ratio());
        }
      }
    }
  }

  const double base_median = Median(levels[0].p50_medians);
  std::cout << "\n"
            << absl::StrFormat(
                   "perfgate detection: sample target, example suite (9 repetitions x 3 s, 400 "
                   "req/s), %d rounds, %.0f min\n\n",
                   rounds, absl::ToDoubleMinutes(absl::Now() - t0));
  std::cout << "run medians of " << kPrimary << " (ms) by level:\n";
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
      "  baseline run-to-run CV of the p50: %.2f %%; p50 effect floor in the A/A comparisons: "
      "median %.2f %%\n\n",
      mean > 0 ? 100 * std::sqrt(var) / mean : 0, 100 * Median(aa_floors));
  std::cout << absl::StrFormat("A/A: %d runs, %d pairs, %d metric comparisons\n",
                               base_runs.size(), aa_pairs, aa_metrics);
  std::cout << absl::StrFormat(
      "  false positives (regression or improvement): %d = %.2f %% of metric comparisons "
      "(target <= 1 %%)\n",
      aa_false, aa_metrics ? 100.0 * aa_false / aa_metrics : 0);
  std::cout << absl::StrFormat("  pairs with any metric flagged: %d of %d; inconclusive metrics: %d\n",
                               aa_runs_flagged, aa_pairs, aa_inconclusive);
  for (const auto& [name, n] : false_by_metric)
    std::cout << absl::StrFormat("    %-36s %d\n", name, n);
  std::cout << "\n"
            << absl::StrFormat("%-10s %-16s %-14s %-12s %-22s %-18s %s\n", "injected",
                               "realised p50", "median ratio", "comparisons",
                               "p50 regression (power)", "run regression", "p50 inconclusive");
  nlohmann::json out_json = {{"rounds", rounds},
                             {"aa_metric_comparisons", aa_metrics},
                             {"aa_false_positives", aa_false},
                             {"aa_pairs", aa_pairs},
                             {"levels", nlohmann::json::array()}};
  for (size_t li = 1; li < levels.size(); ++li) {
    const Power& p = power[li];
    const double realised = base_median > 0 ? Median(levels[li].p50_medians) / base_median - 1 : 0;
    std::cout << absl::StrFormat(
        "%-10s %-16s %-14.3f %-12d %-22s %-18s %d\n",
        absl::StrFormat("+%.0f %%", levels[li].injected * 100),
        absl::StrFormat("%+.1f %%", realised * 100), Median(p.ratios), p.comparisons,
        absl::StrFormat("%d (%.0f %%)", p.detected,
                        p.comparisons ? 100.0 * p.detected / p.comparisons : 0),
        absl::StrFormat("%d (%.0f %%)", p.run_regression,
                        p.comparisons ? 100.0 * p.run_regression / p.comparisons : 0),
        p.inconclusive);
    out_json["levels"].push_back({{"injected", levels[li].injected},
                                  {"realised", realised},
                                  {"comparisons", p.comparisons},
                                  {"detected", p.detected},
                                  {"run_regression", p.run_regression},
                                  {"inconclusive", p.inconclusive}});
  }
  std::cout << "\n(power target: >= 95 % at +5 %; realised = median run p50 against the "
               "baselines')\n";
  if (!json_out.empty()) std::ofstream(json_out) << out_json.dump(2) << "\n";
  return 0;
}
