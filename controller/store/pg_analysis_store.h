// AnalysisStore over PostgreSQL (tables from migrations/0004_analysis.sql).
#pragma once

#include "controller/analysis/analysis_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgAnalysisStore : public AnalysisStore {
 public:
  explicit PgAnalysisStore(PgPool& pool) : pool_(pool) {}

  absl::StatusOr<std::vector<v1::Run>> RunsToAnalyse(int limit) override;
  absl::StatusOr<RunSamples> LoadRunSamples(int64_t run_id) override;
  absl::StatusOr<std::vector<int64_t>> BaselineRuns(const v1::Run& candidate,
                                                    const std::string& branch,
                                                    const std::string& job,
                                                    const std::string& machine_class,
                                                    int k) override;
  absl::StatusOr<std::map<std::string, std::vector<std::vector<double>>>> NoiseSamples(
      const v1::Run& run, const std::string& branch, const std::string& job,
      const std::string& machine_class, int runs) override;
  absl::StatusOr<std::vector<v1::HdrHistogram>> Histograms(int64_t run_id, const std::string& job,
                                                           const std::string& name) override;
  absl::StatusOr<v1::History> GetHistory(const v1::GetHistoryRequest& req) override;
  absl::Status SaveAnalysis(AnalysisOutcome* outcome) override;
  absl::StatusOr<v1::Comparison> LatestComparison(int64_t run_id) override;
  absl::StatusOr<v1::ListChangePointsResponse> ListChangePoints(
      const v1::ListChangePointsRequest& req) override;
  absl::StatusOr<v1::ChangePointRecord> TriageChangePoint(const v1::TriageChangePointRequest& req,
                                                          const std::string& actor) override;
  absl::StatusOr<v1::ListAlertsResponse> ListAlerts(const v1::ListAlertsRequest& req) override;
  absl::StatusOr<v1::Alert> UpdateAlert(const v1::UpdateAlertRequest& req,
                                        const std::string& actor) override;
  absl::StatusOr<std::vector<Delivery>> DueDeliveries(int limit) override;
  absl::Status RecordDelivery(int64_t alert_id, const std::string& channel, bool ok,
                              const std::string& error, absl::Duration retry_in,
                              int max_attempts) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
