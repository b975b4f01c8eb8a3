// The Controller gRPC service (CI and operators): validates each request, calls the stores,
// converts back. WatchRun is a callback-API stream served by a RunWatchHub.
#pragma once

#include "common/grpc/auth.h"
#include "common/spec/run_spec_rules.h"
#include "controller/analysis/analyser.h"
#include "controller/analysis/analysis_store.h"
#include "controller/api/run_watch_hub.h"
#include "controller/bisect/bisect_store.h"
#include "controller/bisect/bisector.h"
#include "controller/campaign/campaign_store.h"
#include "controller/campaign/schedule_store.h"
#include "controller/events/event_bus.h"
#include "controller/forge/forge_store.h"
#include "controller/gateway/session_manager.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_state.h"
#include "controller/queue/job_store.h"
#include "controller/queue/result_store.h"
#include "controller/queue/retention_store.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace perfgate::controller {

// A client's idempotency key (SubmitRun, SubmitCampaign): at most 128 characters, of letters,
// digits and . _ : - (no quoting in logs); INVALID_ARGUMENT naming request_id otherwise.
absl::Status CheckRequestId(const std::string& id);

class ControllerService final
    : public v1::Controller::WithCallbackMethod_WatchRun<v1::Controller::Service> {
 public:
  ControllerService(JobStore& jobs, ResultStore& results, AgentStore& agents,
                    SessionManager& sessions, EventBus& work, EventBus& runs,
                    ControllerMetrics& metrics, common::TokenAuth auth,
                    common::SpecLimits spec_limits, AnalysisStore& analysis, Analyser& analyser)
      : jobs_(jobs),
        results_(results),
        agents_(agents),
        sessions_(sessions),
        work_(work),
        runs_(runs),
        metrics_(metrics),
        auth_(std::move(auth)),
        spec_limits_(std::move(spec_limits)),
        analysis_(analysis),
        analyser_(analyser),
        watches_(jobs, runs) {}
  // Where report links point; set once the HTTP port is bound, before the server serves.
  void SetExternalUrl(std::string url) { external_url_ = std::move(url); }
  // CI integration's projects and outbox (forge_handlers.cc); `on_project_change` runs after a
  // project is added, updated or removed (the webhooks' secret cache).
  void SetForge(ForgeStore* forge, std::function<void()> on_project_change) {
    forge_ = forge;
    on_project_change_ = std::move(on_project_change);
  }
  // Retention (retention_handlers.cc): the store and the controller's policy.
  void SetRetention(RetentionStore* store, RetentionAges policy) {
    retention_ = store;
    retention_policy_ = policy;
  }
  grpc::Status CollectGarbage(grpc::ServerContext* ctx, const v1::CollectGarbageRequest* req,
                              v1::CollectGarbageResponse* resp) override;
  grpc::Status GetStorage(grpc::ServerContext* ctx, const v1::GetStorageRequest* req,
                          v1::Storage* resp) override;
  // Ends open WatchRun streams (before the server shuts down).
  void StopWatches() { watches_.Stop(); }

  grpc::Status SubmitRun(grpc::ServerContext* ctx, const v1::SubmitRunRequest* req,
                         v1::SubmitRunResponse* resp) override;
  grpc::Status GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* req,
                      v1::Run* resp) override;
  grpc::Status ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* req,
                        v1::ListRunsResponse* resp) override;
  grpc::Status CancelRun(grpc::ServerContext* ctx, const v1::CancelRunRequest* req,
                         v1::Run* resp) override;
  grpc::Status RerunRun(grpc::ServerContext* ctx, const v1::RerunRunRequest* req,
                        v1::SubmitRunResponse* resp) override;
  grpc::ServerWriteReactor<v1::RunEvent>* WatchRun(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchRunRequest* req) override;
  grpc::Status GetRunLogs(grpc::ServerContext* ctx, const v1::GetRunLogsRequest* req,
                          v1::GetRunLogsResponse* resp) override;
  // Analysis (analysis_handlers.cc).
  grpc::Status CompareRun(grpc::ServerContext* ctx, const v1::CompareRunRequest* req,
                          v1::Comparison* resp) override;
  grpc::Status GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* req,
                         v1::Report* resp) override;
  grpc::Status GetHistory(grpc::ServerContext* ctx, const v1::GetHistoryRequest* req,
                          v1::History* resp) override;
  grpc::Status ListChangePoints(grpc::ServerContext* ctx, const v1::ListChangePointsRequest* req,
                                v1::ListChangePointsResponse* resp) override;
  grpc::Status TriageChangePoint(grpc::ServerContext* ctx, const v1::TriageChangePointRequest* req,
                                 v1::ChangePointRecord* resp) override;
  grpc::Status ListAlerts(grpc::ServerContext* ctx, const v1::ListAlertsRequest* req,
                          v1::ListAlertsResponse* resp) override;
  grpc::Status UpdateAlert(grpc::ServerContext* ctx, const v1::UpdateAlertRequest* req,
                           v1::Alert* resp) override;
  grpc::Status GetRunResults(grpc::ServerContext* ctx, const v1::GetRunResultsRequest* req,
                             v1::RunResults* resp) override;
  grpc::Status GetRunSeries(grpc::ServerContext* ctx, const v1::GetRunSeriesRequest* req,
                            v1::GetRunSeriesResponse* resp) override;
  grpc::Status GetRunDbStats(grpc::ServerContext* ctx, const v1::GetRunDbStatsRequest* req,
                             v1::GetRunDbStatsResponse* resp) override;
  grpc::Status ListProfiles(grpc::ServerContext* ctx, const v1::ListProfilesRequest* req,
                            v1::ListProfilesResponse* resp) override;
  grpc::Status GetProfileTop(grpc::ServerContext* ctx, const v1::GetProfileTopRequest* req,
                             v1::ProfileTop* resp) override;
  grpc::Status DiffProfiles(grpc::ServerContext* ctx, const v1::DiffProfilesRequest* req,
                            v1::ProfileDiff* resp) override;
  grpc::Status DownloadProfile(grpc::ServerContext* ctx, const v1::DownloadProfileRequest* req,
                               grpc::ServerWriter<v1::DownloadProfileChunk>* writer) override;
  grpc::Status ListAgents(grpc::ServerContext* ctx, const v1::ListAgentsRequest* req,
                          v1::ListAgentsResponse* resp) override;
  grpc::Status DrainAgent(grpc::ServerContext* ctx, const v1::DrainAgentRequest* req,
                          v1::Agent* resp) override;
  grpc::Status AddProject(grpc::ServerContext* ctx, const v1::PutProjectRequest* req,
                          v1::Project* resp) override;
  grpc::Status UpdateProject(grpc::ServerContext* ctx, const v1::PutProjectRequest* req,
                             v1::Project* resp) override;
  grpc::Status GetProject(grpc::ServerContext* ctx, const v1::GetProjectRequest* req,
                          v1::Project* resp) override;
  grpc::Status ListProjects(grpc::ServerContext* ctx, const v1::ListProjectsRequest* req,
                            v1::ListProjectsResponse* resp) override;
  grpc::Status RemoveProject(grpc::ServerContext* ctx, const v1::GetProjectRequest* req,
                             v1::Project* resp) override;
  grpc::Status ListOutbox(grpc::ServerContext* ctx, const v1::ListOutboxRequest* req,
                          v1::ListOutboxResponse* resp) override;
  // Campaigns (campaign_handlers.cc).
  void SetCampaigns(CampaignStore* campaigns, ScheduleStore* schedules) {
    campaigns_ = campaigns;
    schedules_ = schedules;
  }
  grpc::Status SubmitCampaign(grpc::ServerContext* ctx, const v1::SubmitCampaignRequest* req,
                              v1::Campaign* resp) override;
  grpc::Status GetCampaign(grpc::ServerContext* ctx, const v1::GetCampaignRequest* req,
                           v1::Campaign* resp) override;
  grpc::Status ListCampaigns(grpc::ServerContext* ctx, const v1::ListCampaignsRequest* req,
                             v1::ListCampaignsResponse* resp) override;
  grpc::Status CancelCampaign(grpc::ServerContext* ctx, const v1::CancelCampaignRequest* req,
                              v1::Campaign* resp) override;
  grpc::Status GetCampaignReport(grpc::ServerContext* ctx, const v1::GetCampaignReportRequest* req,
                                 v1::Report* resp) override;
  grpc::Status AddSchedule(grpc::ServerContext* ctx, const v1::AddScheduleRequest* req,
                           v1::Schedule* resp) override;
  grpc::Status ListSchedules(grpc::ServerContext* ctx, const v1::ListSchedulesRequest* req,
                             v1::ListSchedulesResponse* resp) override;
  grpc::Status SetSchedulePaused(grpc::ServerContext* ctx, const v1::SetSchedulePausedRequest* req,
                                 v1::Schedule* resp) override;
  grpc::Status RemoveSchedule(grpc::ServerContext* ctx, const v1::RemoveScheduleRequest* req,
                              v1::Schedule* resp) override;
  // Bisections (bisect_handlers.cc).
  void SetBisector(Bisector* bisector, BisectStore* bisections) {
    bisector_ = bisector;
    bisections_ = bisections;
  }
  grpc::Status StartBisection(grpc::ServerContext* ctx, const v1::StartBisectionRequest* req,
                              v1::Bisection* resp) override;
  grpc::Status GetBisection(grpc::ServerContext* ctx, const v1::GetBisectionRequest* req,
                            v1::Bisection* resp) override;
  grpc::Status ListBisections(grpc::ServerContext* ctx, const v1::ListBisectionsRequest* req,
                              v1::ListBisectionsResponse* resp) override;
  grpc::Status CancelBisection(grpc::ServerContext* ctx, const v1::CancelBisectionRequest* req,
                               v1::Bisection* resp) override;
  grpc::Status MarkBisection(grpc::ServerContext* ctx, const v1::MarkBisectionRequest* req,
                             v1::Bisection* resp) override;
  grpc::Status GetBisectionReport(grpc::ServerContext* ctx, const v1::GetBisectionRequest* req,
                                  v1::Report* resp) override;

 private:
  grpc::Status PutProject(grpc::ServerContext* ctx, const v1::PutProjectRequest* req,
                          v1::Project* resp, bool create);
  // A campaign's tiers checked as submissions (and, unless `wait_for_capacity`, against the
  // known agents), their specs defaulted and given the campaign's project, branch and commit.
  grpc::Status CheckCampaign(v1::Campaign* c, bool wait_for_capacity);
  // Validates `spec`, stores the run as submitted by `who` and wakes the dispatcher and
  // watchers (SubmitRun, RerunRun).
  grpc::Status Submit(v1::RunSpec spec, const common::Principal& who, v1::SubmitRunResponse* resp,
                      const std::string& request_id = "");
  // The caller, when its token's role allows `method` (api_roles.h); refusals are logged and
  // counted.
  absl::StatusOr<common::Principal> Caller(const grpc::ServerContextBase& ctx, const char* method);
  JobStore& jobs_;
  ResultStore& results_;
  AgentStore& agents_;
  SessionManager& sessions_;
  EventBus& work_;
  EventBus& runs_;
  ControllerMetrics& metrics_;
  const common::TokenAuth auth_;
  const common::SpecLimits spec_limits_;
  AnalysisStore& analysis_;
  Analyser& analyser_;
  std::string external_url_;
  RetentionStore* retention_ = nullptr;
  RetentionAges retention_policy_;
  ForgeStore* forge_ = nullptr;
  CampaignStore* campaigns_ = nullptr;
  ScheduleStore* schedules_ = nullptr;
  Bisector* bisector_ = nullptr;
  BisectStore* bisections_ = nullptr;
  std::function<void()> on_project_change_;
  RunWatchHub watches_;
};

}  // namespace perfgate::controller
