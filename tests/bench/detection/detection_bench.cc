// Detection benchmark: how often perfgate's verdicts are wrong on the sample target, measured
// through the real system (controller on its embedded PostgreSQL, one agent, the example suite
// deploy/examples/sample-target-suite.yaml with its default 9 repetitions).
//
// The system under test is one git repository with a commit per level: the baseline (1 ms of
// CPU work a request) and latency regressions of 5, 10 and 20 % of the baseline's p50 added
// as CPU work (calibrated on the median p50 of the history baseline runs). Two settings:
// quiet (the sample target as it is) and noisy (--noise: every request also sleeps a random
// time whose level changes every second, so that the p50 varies between repetitions the way a
// real system's does: 8 % in the README's figures, 22 % with --noise-cv 0.6). A few baseline runs
// come first (the history a lab has, from which each metric's noise is learned), then rounds: each
// round measures a baseline, an A/A candidate (the baseline's commit) and every injected level, in
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
// the share of injected runs whose http.latency.p50 is judged a regression. The first look is
// also re-judged by the rules before issue 18 (previous_rules.h), from the same comparisons,
// so the two rule sets are compared on identical evidence.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/stats/summary.h"
#include "tests/bench/detection/lab.h"
#include "tests/bench/detection/previous_rules.h"
#include "tests/bench/detection/replay.h"

namespace {

using namespace perfgate;
using perfgate::bench::kPrimary;
using perfgate::bench::Lab;
using perfgate::bench::Median;

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

bool Flagged(v1::Verdict v) { return v == v1::VERDICT_REGRESSION || v == v1::VERDICT_IMPROVEMENT; }

// One commit of the system under test and the runs measured of it.
struct Level {
  double injected = 0;  // fraction of the baseline p50 added as CPU work per request
  std::string commit;
  std::vector<int64_t> runs;        // round runs (baselines: also the history runs)
  std::vector<int64_t> candidates;  // runs submitted as candidates (A/A for the baseline level)
  std::vector<double> p50_medians;  // per run, in measuring order
};

// Counts over metric verdicts: how many were compared, flagged, inconclusive.
// A comparison's metric verdicts under today's rules, or re-judged by the previous ones.
std::vector<v1::Verdict> Verdicts(const v1::Comparison& c, bool previous, v1::Verdict* overall) {
  if (previous) return perfgate::bench::PreviousVerdicts(c, overall);
  std::vector<v1::Verdict> v;
  for (const auto& m : c.metrics()) v.push_back(m.verdict());
  *overall = c.verdict();
  return v;
}

struct Tally {
  bool previous = false;
  int metrics = 0, flagged = 0, inconclusive = 0, comparisons = 0, comparisons_flagged = 0;
  int runs_inconclusive = 0;
  std::map<std::string, int> by_metric;
  void Add(const v1::Comparison& c) {
    ++comparisons;
    bool any = false;
    v1::Verdict overall;
    const std::vector<v1::Verdict> v = Verdicts(c, previous, &overall);
    runs_inconclusive += overall == v1::VERDICT_INCONCLUSIVE;
    for (int i = 0; i < c.metrics_size(); ++i) {
      ++metrics;
      inconclusive += v[i] == v1::VERDICT_INCONCLUSIVE;
      if (Flagged(v[i])) {
        ++flagged;
        ++by_metric[c.metrics(i).name()];
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
    return {{"comparisons", comparisons},   {"metric_comparisons", metrics},
            {"false_positives", flagged},   {"comparisons_flagged", comparisons_flagged},
            {"inconclusive", inconclusive}, {"runs_inconclusive", runs_inconclusive}};
  }
};

// Power at one level: the primary metric's verdicts.
struct Power {
  bool previous = false;
  int comparisons = 0, detected = 0, run_regression = 0, inconclusive = 0, confirmed = 0;
  std::vector<double> ratios;
  absl::Duration agent_time;  // measuring the candidates and their confirmations
  void Add(const v1::Comparison& c) {
    ++comparisons;
    v1::Verdict overall;
    const std::vector<v1::Verdict> v = Verdicts(c, previous, &overall);
    run_regression += overall == v1::VERDICT_REGRESSION;
    for (int i = 0; i < c.metrics_size(); ++i) {
      if (c.metrics(i).name() != kPrimary) continue;
      detected += v[i] == v1::VERDICT_REGRESSION;
      inconclusive += v[i] == v1::VERDICT_INCONCLUSIVE;
      ratios.push_back(c.metrics(i).ratio());
    }
  }
};

// Agent time of a run: from each job's last attempt's claim to its end (not the queue wait).
absl::Duration AgentTime(const v1::Run& run) {
  absl::Duration t;
  for (const auto& j : run.jobs()) {
    if (j.attempts().empty()) continue;
    const auto& a = j.attempts(j.attempts_size() - 1);
    t += absl::Seconds(a.finished_at().seconds() - a.created_at().seconds());
  }
  return t;
}

void PrintPowerTable(const std::vector<Level>& levels, const std::vector<Power>& power,
                     double base_median, bool pipeline, nlohmann::json* out) {
  std::cout << absl::StrFormat(
      "  %-9s %-13s %-12s %-12s %-26s %-16s %s\n", "injected", "realised p50", "median ratio",
      "comparisons", "p50 regression (power)", "run regression",
      pipeline ? "p50 inconclusive / confirmed / agent min a candidate" : "p50 inconclusive");
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
        p.inconclusive,
        pipeline ? absl::StrFormat(
                       " / %d / %.1f", p.confirmed,
                       p.comparisons ? absl::ToDoubleMinutes(p.agent_time) / p.comparisons : 0)
                 : "");
    out->push_back({{"injected", levels[li].injected},
                    {"realised", realised},
                    {"comparisons", p.comparisons},
                    {"detected", p.detected},
                    {"run_regression", p.run_regression},
                    {"inconclusive", p.inconclusive},
                    {"confirmed", p.confirmed},
                    {"agent_minutes", absl::ToDoubleMinutes(p.agent_time)}});
  }
}

// The resampled pipeline's table: each rule set at each shift, side by side.
void PrintReplay(const perfgate::bench::ReplayResult& r, int runs,
                 const perfgate::bench::ReplayOptions& o, nlohmann::json* out) {
  std::cout << absl::StrFormat(
      "\nRESAMPLED PIPELINE (the controller's comparer on %d trials a shift, repetitions drawn "
      "from the %d runs of the baseline's code, latency metrics x (1 + shift), %d baseline "
      "run%s pooled, %d different first looks; replay.h; %.0f s)\n",
      r.today.empty() ? 0 : r.today[0].trials, runs, o.baseline_runs,
      o.baseline_runs == 1 ? "" : "s", r.distinct_looks, r.seconds);
  (*out)["baseline_runs"] = o.baseline_runs;
  if (o.min_effect >= 0) {
    std::cout << absl::StrFormat("  (judged with a suite floor of %.1f %%)\n", 100 * o.min_effect);
    (*out)["min_effect"] = o.min_effect;
  }
  std::cout << absl::StrFormat("  %-9s %-6s %-24s %-30s %-13s %-14s %-14s %-17s %s\n", "rules",
                               "shift", "first look regr. (CI)", "final p50 regression (CI)",
                               "inconclusive", "run reg/nc/inc", "confirmations",
                               "reps a side med/max", "agent min a candidate");
  for (bool prev : {false, true}) {
    for (const auto& f : prev ? r.previous : r.today) {
      const auto pct = [&](int k) { return f.trials ? 100.0 * k / f.trials : 0.0; };
      // The first look repeats its looks: its interval counts each once.
      const int looks = std::min(f.trials, r.distinct_looks);
      const int first_k =
          f.trials ? static_cast<int>(std::lround(1.0 * f.first_regression * looks / f.trials)) : 0;
      std::vector<int> sides = f.confirmation_sides;
      std::sort(sides.begin(), sides.end());
      std::cout << absl::StrFormat(
          "  %-9s %-6s %-24s %-30s %-13d %-14s %-14d %-17s %.1f\n", prev ? "previous" : "today",
          absl::StrFormat("+%.0f %%", 100 * f.shift),
          absl::StrFormat("%.0f %% (%s)", pct(f.first_regression), Wilson(first_k, looks)),
          absl::StrFormat("%d (%.1f %%; %s)", f.final_regression, pct(f.final_regression),
                          Wilson(f.final_regression, f.trials)),
          f.final_inconclusive,
          absl::StrFormat("%d/%d/%d", f.run_regression, f.run_no_change, f.run_inconclusive),
          f.confirmations,
          sides.empty() ? std::string("-")
                        : absl::StrFormat("%d/%d", sides[sides.size() / 2], sides.back()),
          f.trials ? f.agent_seconds / 60 / f.trials : 0);
      const auto why = [](const char* what, const std::map<std::string, int>& counts) {
        if (counts.empty()) return;
        std::vector<std::pair<int, std::string>> sorted;
        for (const auto& [name, n] : counts) sorted.emplace_back(-n, name);
        std::sort(sorted.begin(), sorted.end());
        std::cout << absl::StrFormat("  %-9s %s:", "", what);
        for (size_t i = 0; i < std::min<size_t>(4, sorted.size()); ++i)
          std::cout << absl::StrFormat("%s %s %d", i ? ";" : "", sorted[i].second,
                                       -sorted[i].first);
        std::cout << "\n";
      };
      why("left inconclusive at the end (gating)", f.undecided);
      if (f.shift == 0) why("flagged at the end", f.flagged);
      if (f.shift == 0)
        std::cout << absl::StrFormat(
            "  %-9s A/A: %d metric comparisons; flagged at the first look %d (%s), at the end %d "
            "(%.3f %%; CI %s)\n",
            "", f.metric_comparisons, f.first_flagged,
            Wilson(static_cast<int>(std::lround(1.0 * f.first_flagged * looks / f.trials)),
                   f.metric_comparisons * looks / f.trials),
            f.final_flagged,
            f.metric_comparisons ? 100.0 * f.final_flagged / f.metric_comparisons : 0,
            Wilson(f.final_flagged, f.metric_comparisons));
      (*out)[prev ? "previous" : "today"].push_back(
          {{"shift", f.shift},
           {"trials", f.trials},
           {"first_regression", f.first_regression},
           {"final_regression", f.final_regression},
           {"final_inconclusive", f.final_inconclusive},
           {"final_no_change", f.final_no_change},
           {"run_regression", f.run_regression},
           {"run_no_change", f.run_no_change},
           {"run_inconclusive", f.run_inconclusive},
           {"confirmations", f.confirmations},
           {"confirmation_sides", f.confirmation_sides},
           {"agent_minutes_a_candidate", f.trials ? f.agent_seconds / 60 / f.trials : 0},
           {"metric_comparisons", f.metric_comparisons},
           {"first_flagged", f.first_flagged},
           {"final_flagged", f.final_flagged}});
    }
  }
}

}  // namespace

// main is long on purpose: it is the benchmark's script, read top to bottom as the README
// describes it (flags, set-up, measured steps, figures).
int main(int argc, char** argv) {
  std::string bin_dir, source_dir, json_out, setting = "quiet";
  int rounds = 4, history = 3, budget = 0, trials = 300;
  bool first_look_only = false;
  std::vector<double> levels_pct = {5, 10, 20};
  CLI::App app{
      "perfgate detection benchmark: false positives and power at injected shifts, at "
      "the first comparison and through the whole pipeline (confirmation runs included)"};
  std::string replay_from;
  int replay_baseline_runs = 1;
  double replay_min_effect = -1;
  app.add_option("--replay-min-effect", replay_min_effect,
                 "the resampled pipeline judges with this suite floor (a fraction: 0.1 = 10 %) "
                 "instead of the suite's own")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--replay-baseline-runs", replay_baseline_runs,
                 "the resampled pipeline's baseline side pools this many runs (as a run's "
                 "--baseline-runs K does)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app.add_option("--bin-dir", bin_dir,
                 "where the perfgate binaries are (required unless --replay-from)");
  app.add_option("--source-dir", source_dir,
                 "the perfgate checkout (for the example suite; required unless --replay-from)");
  app.add_option("--replay-from", replay_from,
                 "measure nothing: replay the runs of the baseline's code that an earlier "
                 "invocation's --json saved (its baseline_code_runs)");
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
  app.add_option("--setting", setting,
                 "quiet: the sample target as it is; noisy: with --noise-latency 1ms --noise-cv "
                 "0.4 --noise-period 1s, a p50 that varies between repetitions like a real "
                 "system's")
      ->capture_default_str()
      ->check(CLI::IsMember({"quiet", "noisy"}));
  app.add_option("--max-repetitions", budget,
                 "the suite's analysis.max_repetitions (a confirmation's budget a side); 0: the "
                 "default")
      ->check(CLI::Range(0, 1000));
  app.add_flag("--first-look-only", first_look_only,
               "schedule no confirmation runs: the pipeline part reports the analyser's first "
               "verdicts and the confirmations they would have asked for (repetitions a side), "
               "in a fraction of the time");
  app.add_option("--replay-trials", trials,
                 "trials a shift of the resampled pipeline (the controller's comparer on "
                 "repetitions drawn from this invocation's baseline runs; replay.h); 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--json", json_out, "also write the figures here");
  CLI11_PARSE(app, argc, argv);
  if (!replay_from.empty()) {
    std::ifstream in(replay_from);
    nlohmann::json saved = nlohmann::json::parse(in, nullptr, false);
    if (saved.is_discarded() || !saved.contains("baseline_code_runs")) {
      std::cerr << replay_from << ": not a detection_bench --json file with baseline_code_runs\n";
      return 2;
    }
    auto runs = perfgate::bench::RunsFromJson(saved["baseline_code_runs"]);
    if (!runs.ok()) {
      std::cerr << replay_from << ": " << runs.status().message() << "\n";
      return 2;
    }
    perfgate::bench::ReplayOptions ro;
    ro.trials = std::max(trials, 1);
    ro.baseline_runs = replay_baseline_runs;
    ro.min_effect = replay_min_effect;
    const perfgate::bench::ReplayResult replay = perfgate::bench::Replay(*runs, ro);
    nlohmann::json out = {{"replay_from", replay_from}, {"setting", saved.value("setting", "")}};
    std::cout << "replaying " << runs->size() << " runs of the "
              << out["setting"].get<std::string>() << " setting from " << replay_from << "\n";
    PrintReplay(replay, static_cast<int>(runs->size()), ro, &out["resampled"]);
    if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
    return 0;
  }
  if (bin_dir.empty() || source_dir.empty()) {
    std::cerr << "--bin-dir and --source-dir are required (unless --replay-from)\n";
    return 2;
  }
  const std::string noise =
      setting == "noisy" ? " --noise-latency 1ms --noise-cv 0.4 --noise-period 1s" : "";

  char tmpl[] = "/tmp/perfgate-detection-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::cout << "perfgate detection benchmark (work dir " << dir << ")\n";
  Lab lab(bin_dir, dir);
  if (!lab.Start(
          source_dir,
          budget ? absl::StrCat("analysis:\n  max_repetitions: ", budget, "\n") : std::string(),
          !first_look_only))
    return 1;

  // History first (the runs the noise is learned from), then calibration: the median of their
  // p50s sets the size of a 1 % shift (a machine's first run after a start can sit apart).
  std::vector<Level> levels(1 + levels_pct.size());
  levels[0].commit = lab.Commit("--cpu-burn 1000us" + noise);
  const absl::Time t0 = absl::Now();
  std::cout << "measuring " << history << " history baseline runs (9 repetitions of 3 s each)...\n"
            << std::flush;
  for (int h = 0; h < history; ++h) {
    const int64_t id = lab.Submit(levels[0].commit, "baseline", "main");
    lab.WaitSucceeded(id);
    levels[0].runs.push_back(id);
    levels[0].p50_medians.push_back(lab.RunP50(id));
  }
  const double base_p50_ms = Median(levels[0].p50_medians);
  if (base_p50_ms <= 0) {
    std::cerr << "the history baseline runs have no " << kPrimary << "\n";
    return 1;
  }
  for (size_t i = 0; i < levels_pct.size(); ++i) {
    Level& l = levels[i + 1];
    l.injected = levels_pct[i] / 100;
    const int burn_us = static_cast<int>(std::lround(1000 + l.injected * base_p50_ms * 1000));
    l.commit = lab.Commit(absl::StrCat("--cpu-burn ", burn_us, "us", noise));
  }
  std::cout << absl::StrFormat("baseline p50 %.3f ms: a 1 %% shift is %.1f us of CPU work\n",
                               base_p50_ms, base_p50_ms * 10)
            << std::flush;

  // The rounds, in submission order: one agent runs them one after another, and confirmation
  // runs queue behind them.
  struct Queued {
    size_t level;
    int64_t id;
    bool candidate;
  };
  std::vector<Queued> queued;
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
  Tally first_aa, prev_aa;
  prev_aa.previous = true;
  std::vector<double> floors, margins, noise_cvs, prev_floors;
  // Every run of the baseline's code as the comparer sees it, for the resampled pipeline.
  std::vector<controller::RunSamples> base_samples;
  const auto add_sample = [&](const v1::Comparison& c, bool candidate_side, int64_t id) {
    base_samples.push_back(
        perfgate::bench::RunFromComparison(c, candidate_side, lab.GetRun(id).jobs(0).spec(), id));
  };
  for (size_t i = 0; i < base_runs.size(); ++i) {
    for (size_t j = i + 1; j < base_runs.size(); ++j) {
      const v1::Comparison c = lab.MustCompare(base_runs[j], base_runs[i]);
      if (i == 0 && j == 1) add_sample(c, false, base_runs[0]);
      if (i == 0) add_sample(c, true, base_runs[j]);
      first_aa.Add(c);
      prev_aa.Add(c);
      for (const auto& m : c.metrics()) {
        if (m.name() != kPrimary) continue;
        floors.push_back(m.floor());
        margins.push_back(m.margin());
        noise_cvs.push_back(m.noise_cv());
        prev_floors.push_back(perfgate::bench::PreviousFloor(m));
      }
    }
  }
  for (int64_t aa : levels[0].candidates) add_sample(lab.MustCompare(aa, base_runs[0]), true, aa);
  std::vector<Power> first_power(levels.size()), prev_power(levels.size());
  for (Power& p : prev_power) p.previous = true;
  for (size_t li = 1; li < levels.size(); ++li)
    for (int64_t cand : levels[li].runs)
      for (int64_t base : base_runs) {
        const v1::Comparison c = lab.MustCompare(cand, base);
        first_power[li].Add(c);
        prev_power[li].Add(c);
      }

  // The pipeline: each candidate's final verdict.
  std::cout << "waiting for the analyser's verdicts and confirmation runs...\n" << std::flush;
  Tally pipe_aa;
  std::vector<Power> pipe_power(levels.size());
  int confirmations = 0;
  absl::Duration confirm_time, aa_time;
  std::vector<int> confirmation_sides, planned_sides;
  for (size_t li = 0; li < levels.size(); ++li) {
    for (int64_t cand : levels[li].candidates) {
      int64_t conf = 0;
      const v1::Comparison c = lab.FinalComparison(cand, &conf);
      absl::Duration t = AgentTime(lab.GetRun(cand));
      if (c.confirmation_repetitions() > 0) planned_sides.push_back(c.confirmation_repetitions());
      if (conf) {
        ++confirmations;
        const v1::Run run = lab.GetRun(conf);
        const absl::Duration ct = AgentTime(run);
        confirm_time += ct;
        t += ct;
        int side = 0;
        for (const auto& j : run.jobs())
          if (j.spec().arm().baseline()) side += j.spec().benchmark().workload().repetitions();
        confirmation_sides.push_back(side);
      }
      if (li == 0) {
        pipe_aa.Add(c);
        aa_time += t;
      } else {
        pipe_power[li].Add(c);
        pipe_power[li].confirmed += conf != 0;
        pipe_power[li].agent_time += t;
      }
    }
  }

  const double base_median = Median(levels[0].p50_medians);
  std::cout << "\n"
            << absl::StrFormat(
                   "perfgate detection, %s setting: sample target%s, example suite (9 "
                   "repetitions x 3 s, 400 req/s), %d history + %d rounds, %.0f min\n\n",
                   setting, noise, history, rounds, absl::ToDoubleMinutes(absl::Now() - t0));
  std::cout << "run medians of " << kPrimary << " (ms) by level, in measuring order:\n";
  for (const Level& l : levels) {
    std::cout << absl::StrFormat("  %+4.0f %%:", l.injected * 100);
    for (double v : l.p50_medians) std::cout << absl::StrFormat(" %.3f", v);
    std::cout << "\n";
  }
  std::cout << absl::StrFormat(
      "  baseline p50: within-run CV (learned) median %.1f %%, run-to-run CV %.2f %%; in the A/A "
      "comparisons its floor was %.1f %% (previous rules: %.1f %%), its run-noise margin median "
      "%.2f %%\n\n",
      100 * Median(noise_cvs), 100 * common::Summarize(levels[0].p50_medians).cv,
      100 * Median(floors), 100 * Median(prev_floors), 100 * Median(margins));

  nlohmann::json out = {{"setting", setting},
                        {"rounds", rounds},
                        {"history", history},
                        {"p50_within_run_cv", Median(noise_cvs)}};
  std::cout << "FIRST LOOK, today's rules (one comparison against an explicit run)\n";
  first_aa.Print("A/A, every pair of baseline runs");
  out["first_look"] = {{"aa", first_aa.Json()}, {"levels", nlohmann::json::array()}};
  PrintPowerTable(levels, first_power, base_median, false, &out["first_look"]["levels"]);
  std::cout << "\nFIRST LOOK, the rules before issue 18, on the same comparisons\n";
  prev_aa.Print("A/A, every pair of baseline runs");
  out["first_look_previous"] = {{"aa", prev_aa.Json()}, {"levels", nlohmann::json::array()}};
  PrintPowerTable(levels, prev_power, base_median, false, &out["first_look_previous"]["levels"]);

  std::cout << (first_look_only
                    ? "\nANALYSER'S FIRST VERDICTS (each candidate against its newest baseline; "
                      "--first-look-only: no confirmation runs)\n"
                    : "\nPIPELINE (each candidate against its newest baseline; inconclusive ones "
                      "decided by the interleaved confirmation run)\n");
  pipe_aa.Print("A/A candidates");
  out["pipeline"] = {{"aa", pipe_aa.Json()},
                     {"confirmations", confirmations},
                     {"confirmation_minutes", absl::ToDoubleMinutes(confirm_time)},
                     {"levels", nlohmann::json::array()}};
  PrintPowerTable(levels, pipe_power, base_median, true, &out["pipeline"]["levels"]);
  const int candidates =
      static_cast<int>(levels[0].candidates.size()) + rounds * static_cast<int>(levels.size() - 1);
  std::cout << absl::StrFormat(
      "  confirmation runs: %d of %d candidates (%.1f min of agent time, %.1f min each; "
      "repetitions a side median %.0f, max %d); A/A candidates cost %.1f min of agent time each\n",
      confirmations, candidates, absl::ToDoubleMinutes(confirm_time),
      confirmations ? absl::ToDoubleMinutes(confirm_time) / confirmations : 0,
      Median({confirmation_sides.begin(), confirmation_sides.end()}),
      confirmation_sides.empty()
          ? 0
          : *std::max_element(confirmation_sides.begin(), confirmation_sides.end()),
      levels[0].candidates.empty()
          ? 0
          : absl::ToDoubleMinutes(aa_time) / static_cast<double>(levels[0].candidates.size()));
  std::cout << absl::StrFormat(
      "  final verdicts that still ask for a confirmation (a first look under "
      "--first-look-only, else what a confirmation left undecided): %d of %d candidates, "
      "repetitions a side (within the budget) median %.0f, max %d\n",
      planned_sides.size(), candidates, Median({planned_sides.begin(), planned_sides.end()}),
      planned_sides.empty() ? 0 : *std::max_element(planned_sides.begin(), planned_sides.end()));
  out["pipeline"]["planned_confirmations"] = planned_sides;
  out["baseline_code_runs"] = perfgate::bench::RunsToJson(base_samples);
  if (trials > 0) {
    std::cout << "\nreplaying the pipeline on resampled repetitions...\n" << std::flush;
    perfgate::bench::ReplayOptions ro;
    ro.trials = trials;
    ro.baseline_runs = replay_baseline_runs;
    ro.min_effect = replay_min_effect;
    const perfgate::bench::ReplayResult replay = perfgate::bench::Replay(base_samples, ro);
    out["resampled"] = nlohmann::json::object();
    PrintReplay(replay, static_cast<int>(base_samples.size()), ro, &out["resampled"]);
  }
  std::cout << "\n(targets: A/A false positives <= 1 % of metric comparisons; quiet: power >= 95 % "
               "at +5 %; noisy: >= 90 % at +20 % with the default repetitions and at +10 % within "
               "the confirmation budget; realised = median run p50 of the level against the "
               "baselines')\n";
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}
