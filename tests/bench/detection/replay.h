// The detection benchmark's resampled pipeline: the controller's own comparer
// (controller/analysis/comparer.h: BuildComparison, PlanConfirmation) deciding thousands of
// simulated candidates whose repetitions are drawn from this invocation's real runs of the
// baseline's code, so that power and false positives come with intervals a few dozen real
// candidates cannot give (a confirmation costs minutes of agent time; a replayed one
// milliseconds).
//
// A trial at shift d: different real runs of the baseline's code, one as the candidate, the
// others (one, or --baseline-runs K) as the baseline, their repetitions as measured, every
// latency metric of the candidate multiplied by 1 + d (a regression of exactly d, on the
// machine's real noise: within-run from the repetitions, run-to-run from the runs). Noise is
// learned as the analyser learns it, from the other runs of the baseline's code. That first
// comparison is judged; an inconclusive one gets a confirmation of as many repetitions a side
// as PlanConfirmation asks (within the suite's budget), each drawn from the repetitions of all
// those runs pooled (whole repetitions, so that one repetition's metrics stay together; sides
// taking turns see the same machine), judged as interleaved, which is the final verdict. The rules
// before issue 18 are replayed on the same draws: their first look re-judged (previous_rules.h),
// and their confirmation as it was, 3 rounds of 4 repetitions a side.
//
// What it leaves out, by construction: drift inside a confirmation beyond what the pooled runs
// show, and regressions that change a distribution's shape rather than scale it. The real
// pipeline's figures (the rest of the benchmark) measure those, on fewer candidates.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/analysis/comparer.h"
#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::bench {

// One real run of the baseline's code, as the comparer sees it: per job, its valid repetitions.
// `comparison` is any comparison holding the run on side `candidate_side`; `spec` its job spec.
controller::RunSamples RunFromComparison(const v1::Comparison& comparison, bool candidate_side,
                                         const v1::JobSpec& spec, int64_t run_id);

struct ReplayOptions {
  int trials = 300;  // a shift
  uint64_t seed = 18;
  std::vector<double> shifts = {0, 0.05, 0.10, 0.20};  // 0: A/A
  std::string primary = "http.latency.p50";
  // The baseline side pools this many runs (a run's --baseline-runs K: the newest K baselines).
  int baseline_runs = 1;
  // >= 0: every job's analysis.min_effect (the suite's floor) set to this, as a suite that states
  // the change that matters to it would.
  double min_effect = -1;
};

// The figures of one rule set at one shift.
struct ReplayFigures {
  double shift = 0;
  int trials = 0;
  int first_regression = 0, final_regression = 0;   // the primary metric judged a regression
  int final_inconclusive = 0, final_no_change = 0;  // the primary metric, at the end
  int run_regression = 0, run_no_change = 0, run_inconclusive = 0;  // the run's final verdict
  int confirmations = 0;
  std::vector<int> confirmation_sides;  // repetitions a side, per confirmation
  double agent_seconds = 0;             // candidates and confirmations, measured at a repetition's
                                        // warm-up + duration + pause
  // Every compared metric of every trial (the false positives when shift is 0).
  int metric_comparisons = 0, first_flagged = 0, final_flagged = 0;
  // Why: the metrics flagged at the end (by name), and the gating metrics left inconclusive at
  // the end (by name and the rule that left them so).
  std::map<std::string, int> flagged, undecided;
};

struct ReplayResult {
  std::vector<ReplayFigures> today, previous;  // by shift, in ReplayOptions order
  double seconds = 0;                          // the replay's own CPU-bound wall time
  int distinct_looks = 0;  // different first looks (with one baseline run: ordered pairs)
};

// The runs as JSON (detection_bench --json writes them, --replay-from reads them back), so that
// the replay can be run again, with other options, without measuring again.
nlohmann::json RunsToJson(const std::vector<controller::RunSamples>& runs);
absl::StatusOr<std::vector<controller::RunSamples>> RunsFromJson(const nlohmann::json& j);

// `runs`: the real runs of the baseline's code (at least baseline_runs + 2: the sides, and one
// more to learn run-to-run noise from).
ReplayResult Replay(const std::vector<controller::RunSamples>& runs, const ReplayOptions& opts);

}  // namespace perfgate::bench
