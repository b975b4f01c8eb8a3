// A candidate run against its baseline runs: which metrics are compared, the verdicts
// (common/stats/verdict.h), the overall verdict, absolute limit levels, and the alerts a
// comparison raises. Pure: the analyser gathers the inputs from the stores.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/stats/verdict.h"
#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// One job's valid repetitions, per metric.
struct JobSamples {
  std::string job_name;
  std::string machine_class;
  struct Metric {
    std::string unit;
    v1::Direction direction = v1::DIRECTION_LOWER_IS_BETTER;
    std::vector<double> values;
  };
  std::map<std::string, Metric> metrics;
  std::vector<v1::MetricLimit> limits;  // from the job's suite
  int valid = 0, total = 0;             // repetitions
  v1::JobSpec spec;                     // as submitted (and defaulted)
  std::string agent;                    // the agent whose attempt gave these results
};

struct RunSamples {
  v1::Run run;  // without jobs
  std::vector<JobSamples> jobs;
  const JobSamples* Job(const std::string& name) const;
};

// What a metric's history says about its noise on one machine class, each source counted once:
// repetitions within a run (the test and the effect floor), and runs of the same code (the
// margin around the floor, common/stats/verdict.h).
struct NoiseEstimate {
  double cv = 0;  // within a run: the median of the runs' repetition CVs
  // Run to run: how much run medians drift apart beyond what their repetitions explain (a CV;
  // 3 or more runs), -1 when unknown.
  double run_cv = -1;
  int runs = 0;  // the run medians run_cv was learned from
};

struct ComparisonInputs {
  RunSamples candidate;
  std::vector<RunSamples> baselines;  // pooled; newest first
  // (job, metric) -> the metric's noise on this machine class.
  std::map<std::pair<std::string, std::string>, NoiseEstimate> noise;
  // The sides were measured taking turns on one agent (a confirmation run): drift between
  // runs falls on both, so no run-to-run margin is applied.
  bool interleaved = false;
};

// Whether a metric is the system's performance (compared) rather than evidence about the
// measurement itself (generator lag, target rate, host figures), which is shown but not judged.
bool IsComparedMetric(const std::string& name);

// The comparison with metrics, verdicts, levels and summary; no curves or profile diffs.
v1::Comparison BuildComparison(const ComparisonInputs& in, const common::VerdictOptions& opts);

// A comparison that could not be made (no baseline on this machine class, ...).
v1::Comparison NoComparison(const RunSamples& candidate, const std::string& note);

// The metric's noise from its runs' values (runs of at least 3 values): cv the median of the
// per-run CVs; run_cv, given 3 or more runs, the standard deviation of the runs' log medians
// less what their repetitions already give them (sqrt(pi/2) cv / sqrt(n) each), at least 0.
NoiseEstimate LearnNoise(const std::vector<std::vector<double>>& runs);

// An alert per regression or improvement of a gating metric, with its evidence; `url` is the
// comparison page.
std::vector<v1::Alert> AlertsFor(const v1::Comparison& c, const std::string& url);

// The alert a new change point raises; `url` is where to look (the change points page).
v1::Alert ChangePointAlert(const v1::ChangePointRecord& c, const std::string& url);

// The fewest repetitions a side a confirmation gives `job`: max(its repetitions,
// min_repetitions).
int BaseRepetitions(const JobSamples& job, int min_repetitions);

// How many repetitions a side a confirmation gives `job`: what the measured noise says its
// noisiest inconclusive gating metric needs to decide at its floor, within the job's budget
// (analysis.max_repetitions, analysis.max_confirmation_seconds), and at least
// BaseRepetitions. side 0 when no gating metric of the job is inconclusive.
struct ConfirmationPlan {
  int side = 0;
  std::string why;  // "job api: http.latency.p50 needs 152 repetitions a side ..."
};
ConfirmationPlan PlanConfirmation(const JobSamples& job, const v1::Comparison& c,
                                  int min_repetitions);

// Confirmation of an inconclusive candidate: the same jobs measured again on the candidate's own
// agent, the baseline's commit and the candidate's taking turns (A1 B1 A2 B2 A3 B3), so that
// drift of the machine over time falls on both sides alike, then judged as usual.
inline constexpr int kConfirmationRounds = 3;
// The confirmation run of `candidate`, whose comparison `c` was inconclusive: each side gets
// PlanConfirmation's repetitions (BaseRepetitions for a job that decided) over
// kConfirmationRounds rounds, plus a spare one per round.
// nullopt, with *why, when none can be made (no baseline commit, a job whose agent is unknown,
// nothing measured).
std::optional<v1::RunSpec> ConfirmationSpec(const RunSamples& candidate, const v1::Comparison& c,
                                            int min_repetitions, std::string* why);
// Repetitions per round of an arm that gives a side `side` repetitions over kConfirmationRounds
// rounds, with one spare per round: a repetition found invalid (the generator fell behind on a
// busy machine) must not leave the run short of a verdict again.
uint32_t RoundRepetitions(uint32_t side);
// Adds round `round` of an interleaved pair to `spec`: job `job_name` (from `job_spec`) at the
// baseline commit (arm A) then at the candidate commit (arm B), both pinned to `agent`.
void AddArms(const v1::JobSpec& job_spec, const std::string& job_name, const std::string& agent,
             const std::string& baseline_commit, const std::string& candidate_commit, int round,
             uint32_t repetitions, v1::RunSpec* spec);
// A confirmation run's samples as its two sides {baseline, candidate}, each confirmed job's
// rounds pooled under that job's name. Jobs without an arm are left out.
std::pair<RunSamples, RunSamples> SplitConfirmation(const RunSamples& confirmation);

const char* VerdictText(v1::Verdict v);  // no_change, regression, ...; "none" for UNSPECIFIED

}  // namespace perfgate::controller
