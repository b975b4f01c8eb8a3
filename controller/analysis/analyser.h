// The analysis of finished runs (README "How a run flows"; docs/analysis.md): a candidate (or a run
// submitted with an explicit run to compare against) is compared with its baseline; a baseline
// extends its branch's history and is searched for change points. Outcomes — comparison,
// alerts, change points — are stored in one transaction that also marks the run analysed, so a
// crash re-analyses and two replicas never both store. Works off the database (finished runs
// not yet analysed), woken by run state changes (`run_states`: the database's run
// notifications, from any replica) and a slow poll.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "common/stats/change_point.h"
#include "common/stats/verdict.h"
#include "controller/analysis/analysis_store.h"
#include "controller/events/event_bus.h"
#include "controller/queue/result_store.h"

namespace perfgate::controller {

struct AnalyserOptions {
  common::VerdictOptions verdict;
  int noise_runs = 20;       // baseline runs the noise of a metric is learned from
  int history_window = 50;   // change points are searched in the newest N baseline points
  int min_points_after = 5;  // points after a change before it is reported
  common::ChangePointOptions change_points;
  int max_profile_diffs = 4;
  absl::Duration poll = absl::Seconds(5);
  std::string external_url;  // where the web pages are, for links ("http://host:port")
  bool webhook = false, alertmanager = false;  // alerts need delivering there
  // An inconclusive candidate gets one interleaved confirmation run (comparer.h).
  bool confirm_inconclusive = true;
};

class Analyser {
 public:
  Analyser(AnalysisStore& store, ResultStore& results, EventBus& run_states, AnalyserOptions opts)
      : store_(store), results_(results), run_states_(run_states), opts_(std::move(opts)) {}
  ~Analyser() { Stop(); }
  void Start();
  void Stop();
  // Where links point; set before Start, once the HTTP port is bound.
  void SetExternalUrl(std::string url) { opts_.external_url = std::move(url); }

  // Analyses the runs waiting; returns how many.
  int RunOnce();

  // A comparison of `candidate` with `against` (a run id), or with its branch's baseline when
  // against is 0; not stored.
  absl::StatusOr<v1::Comparison> Compare(int64_t candidate, int64_t against);

 private:
  absl::StatusOr<v1::Comparison> CompareSamples(const RunSamples& candidate, int64_t against);
  // The confirmation run's own comparison (its two sides) and the decision for the run it
  // confirms, with that run's alerts.
  absl::Status DecideConfirmation(const RunSamples& confirmation, AnalysisOutcome* out);
  // A run of interleaved arms (a confirmation, a bisection step): its baseline arms against its
  // candidate arms, with curves and profile diffs; *how says what was measured where. NOT_FOUND
  // when a side measured nothing.
  absl::StatusOr<v1::Comparison> CompareArms(const RunSamples& run, std::string* how);
  // Per (job, metric) noise CV of the candidate's series on its machine classes.
  absl::Status LearnNoise(const RunSamples& candidate, ComparisonInputs* in);
  absl::Status Analyse(const v1::Run& run);
  // Database trouble that may pass (retry later), as opposed to a run that cannot be analysed.
  static bool IsTransient(const absl::Status& s);
  // Records `run` as analysed with `why` (as a candidate's comparison note), so a run that
  // cannot be analysed does not hold up those after it.
  absl::Status SaveFailure(const v1::Run& run, const absl::Status& why);
  absl::Status FindChangePoints(const RunSamples& baseline, AnalysisOutcome* out);
  // Where one side's measurements of each compared job are stored: job -> (run, job name in
  // that run). A plain run is its own jobs; a side of a confirmation run is its arms' jobs.
  struct JobSource {
    int64_t run_id;
    std::string stored_job;
  };
  using SideSources = std::map<std::string, std::vector<JobSource>>;
  static SideSources SourcesOf(const std::vector<const RunSamples*>& runs);
  static SideSources ArmSources(const RunSamples& confirmation, bool baseline);
  // Latency percentile curves of each side's merged histograms.
  void AddCurves(const SideSources& candidate, const SideSources& baseline, v1::Comparison* c);
  // Per (job, service, kind, point) captured on both sides, the diff of the mean cost per
  // profile over each side's repetitions (at most 12 profiles a side).
  void AddProfileDiffs(const SideSources& candidate, const SideSources& baseline,
                       v1::Comparison* c);

  AnalysisStore& store_;
  ResultStore& results_;
  EventBus& run_states_;
  AnalyserOptions opts_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
