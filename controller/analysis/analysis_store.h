// Where the analyser reads runs' samples and baselines, and stores comparisons, change points
// and alerts; the API reads them back. One implementation over PostgreSQL
// (controller/store/pg_analysis_store.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/analysis/comparer.h"
#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/controller.pb.h"
#include "perfgate/v1/histogram.pb.h"

namespace perfgate::controller {

// What a finished run's analysis stores, in one transaction.
struct AnalysisOutcome {
  int64_t run_id = 0;
  std::optional<v1::Comparison> comparison;  // its id and created_at are set when stored
  std::vector<v1::Alert> alerts;             // regression / improvement alerts of the comparison
  struct NewChangePoint {
    v1::ChangePointRecord record;  // its id is set when stored
    v1::Alert alert;               // raised when the change point is new
  };
  std::vector<NewChangePoint> change_points;
  bool webhook = false, alertmanager = false;  // which deliveries the alerts need
  // An inconclusive candidate: the confirmation run to schedule (its id is set when stored).
  std::optional<v1::RunSpec> confirmation;
  int64_t confirmation_run_id = 0;
  // A confirmation run: the comparison that decides the run it confirms (its
  // candidate_run_id), stored under that run, whose verdict it becomes; the alerts then
  // belong to it.
  std::optional<v1::Comparison> decision;
};

struct Delivery {
  v1::Alert alert;
  int attempts = 0;
};

class AnalysisStore {
 public:
  virtual ~AnalysisStore() = default;

  // Finished runs (succeeded, failed or cancelled) not analysed yet, oldest first, without jobs.
  virtual absl::StatusOr<std::vector<v1::Run>> RunsToAnalyse(int limit) = 0;
  // A run's valid repetitions per job and metric (latest attempt with results per job), the
  // machine class they ran on, and the jobs' suite limits. NOT_FOUND for an unknown run.
  virtual absl::StatusOr<RunSamples> LoadRunSamples(int64_t run_id) = 0;
  // The newest `k` succeeded baseline runs of `branch` with the candidate's project and suite
  // whose job `job` produced valid results on `machine_class`, newest first; never the
  // candidate itself.
  virtual absl::StatusOr<std::vector<int64_t>> BaselineRuns(const v1::Run& candidate,
                                                            const std::string& branch,
                                                            const std::string& job,
                                                            const std::string& machine_class,
                                                            int k) = 0;
  // Per metric: valid values of each of the newest `runs` baseline and A/A runs of the series,
  // never `run` itself (an A/A's own spread must not widen its own floor).
  virtual absl::StatusOr<std::map<std::string, std::vector<std::vector<double>>>> NoiseSamples(
      const v1::Run& run, const std::string& branch, const std::string& job,
      const std::string& machine_class, int runs) = 0;
  // The histograms named `name` of a run's job, one per valid repetition.
  virtual absl::StatusOr<std::vector<v1::HdrHistogram>> Histograms(int64_t run_id,
                                                                   const std::string& job,
                                                                   const std::string& name) = 0;
  // The metric's medians along a branch (baseline runs), oldest first, with its change points.
  virtual absl::StatusOr<v1::History> GetHistory(const v1::GetHistoryRequest& req) = 0;

  // Stores the outcome and marks the run analysed. A run another replica analysed first is
  // left alone (OK).
  virtual absl::Status SaveAnalysis(AnalysisOutcome* outcome) = 0;
  // The newest stored comparison of a candidate. NOT_FOUND when there is none.
  virtual absl::StatusOr<v1::Comparison> LatestComparison(int64_t run_id) = 0;

  virtual absl::StatusOr<v1::ListChangePointsResponse> ListChangePoints(
      const v1::ListChangePointsRequest& req) = 0;
  virtual absl::StatusOr<v1::ChangePointRecord> TriageChangePoint(
      const v1::TriageChangePointRequest& req, const std::string& actor) = 0;
  virtual absl::StatusOr<v1::ListAlertsResponse> ListAlerts(const v1::ListAlertsRequest& req) = 0;
  virtual absl::StatusOr<v1::Alert> UpdateAlert(const v1::UpdateAlertRequest& req,
                                                const std::string& actor) = 0;

  // Alerts with a pending delivery whose time has come.
  virtual absl::StatusOr<std::vector<Delivery>> DueDeliveries(int limit) = 0;
  // Records one channel's delivery attempt ("webhook" or "alertmanager"): delivered, or
  // failed with `error` and retried after `retry_in` (failed for good after `max_attempts`).
  virtual absl::Status RecordDelivery(int64_t alert_id, const std::string& channel, bool ok,
                                      const std::string& error, absl::Duration retry_in,
                                      int max_attempts) = 0;
};

}  // namespace perfgate::controller
