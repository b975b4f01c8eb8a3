#include "controller/metrics/controller_metrics.h"

#include "controller/queue/job_state.h"

namespace perfgate::controller {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60};
  return *b;
}

constexpr const char* kMethods[] = {
    "SubmitRun",       "RerunRun",        "GetRun",         "ListRuns",      "CancelRun",
    "WatchRun",        "GetRunLogs",      "ListAgents",     "DrainAgent",    "AcceptAttempt",
    "CompleteAttempt", "UploadLog",       "UploadResults",  "GetRunResults", "Session",
    "AddProject",      "UpdateProject",   "GetProject",     "ListProjects",  "RemoveProject",
    "ListOutbox",      "UploadBlobChunk", "CollectGarbage", "GetStorage",    "other"};

}  // namespace

ControllerMetrics::ControllerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& jobs = prometheus::BuildGauge()
                   .Name("perfgate_controller_jobs")
                   .Help("Jobs in the queue by state")
                   .Register(*registry_);
  for (int s = 1; s <= v1::JobState_MAX; ++s) {
    std::string name = JobStateName(static_cast<JobState>(s));
    jobs_by_state_[name] = &jobs.Add({{"state", name}});
  }
  dispatch_latency_ = &prometheus::BuildHistogram()
                           .Name("perfgate_controller_dispatch_latency_seconds")
                           .Help("From a job becoming claimable to its Assign being sent")
                           .Register(*registry_)
                           .Add({}, LatencyBuckets());
  claims_ = &prometheus::BuildCounter()
                 .Name("perfgate_controller_claims_total")
                 .Help("Jobs claimed for agents")
                 .Register(*registry_)
                 .Add({});
  agents_connected_ = &prometheus::BuildGauge()
                           .Name("perfgate_controller_agents_connected")
                           .Help("Agents with a live session on this controller")
                           .Register(*registry_)
                           .Add({});
  postgres_up_ = &prometheus::BuildGauge()
                      .Name("perfgate_controller_postgres_up")
                      .Help("1 while the private PostgreSQL this controller supervises runs")
                      .Register(*registry_)
                      .Add({});
  postgres_restarts_ = &prometheus::BuildCounter()
                            .Name("perfgate_controller_postgres_restarts_total")
                            .Help("Restarts of the private PostgreSQL after it died")
                            .Register(*registry_)
                            .Add({});
  store_bytes_ = &prometheus::BuildGauge()
                      .Name("perfgate_controller_store_bytes")
                      .Help("The store's tables with indexes, by kind of data")
                      .Register(*registry_);
  retention_removed_ = &prometheus::BuildCounter()
                            .Name("perfgate_controller_retention_removed_bytes_total")
                            .Help("Log text and profile blobs removed for age, by kind")
                            .Register(*registry_);
  auto& rpc = prometheus::BuildHistogram()
                  .Name("perfgate_controller_rpc_duration_seconds")
                  .Help("gRPC handler latency by method (for streams: the stream's lifetime)")
                  .Register(*registry_);
  for (const char* m : kMethods) rpc_latency_[m] = &rpc.Add({{"method", m}}, LatencyBuckets());
  auto& refused = prometheus::BuildCounter()
                      .Name("perfgate_controller_calls_refused_total")
                      .Help("Calls refused for their credentials (PERMISSION_DENIED) by method")
                      .Register(*registry_);
  for (const char* m : kMethods) calls_refused_[m] = &refused.Add({{"method", m}});
  auto& hooks = prometheus::BuildCounter()
                    .Name("perfgate_controller_webhooks_total")
                    .Help("Webhook deliveries by forge and result")
                    .Register(*registry_);
  for (const char* f : {"github", "gitlab"})
    for (const char* r : {"accepted", "duplicate", "ignored", "refused", "error"})
      webhooks_[{f, r}] = &hooks.Add({{"forge", f}, {"result", r}});
  webhook_latency_ = &prometheus::BuildHistogram()
                          .Name("perfgate_controller_webhook_duration_seconds")
                          .Help("From a webhook's arrival to its answer (runs queued durably)")
                          .Register(*registry_)
                          .Add({}, LatencyBuckets());
  auto& sends = prometheus::BuildCounter()
                    .Name("perfgate_controller_outbox_sends_total")
                    .Help("Reports sent to forges by result")
                    .Register(*registry_);
  for (const char* r : {"sent", "retry", "refused"}) outbox_sends_[r] = &sends.Add({{"result", r}});
}

prometheus::Counter& ControllerMetrics::webhooks(const std::string& forge,
                                                 const std::string& result) {
  auto it = webhooks_.find({forge, result});
  return it == webhooks_.end() ? *webhooks_.at({"github", "error"}) : *it->second;
}

prometheus::Counter& ControllerMetrics::calls_refused(const std::string& method) {
  auto it = calls_refused_.find(method);
  return it == calls_refused_.end() ? *calls_refused_.at("other") : *it->second;
}

prometheus::Counter& ControllerMetrics::outbox_sends(const std::string& result) {
  auto it = outbox_sends_.find(result);
  return it == outbox_sends_.end() ? *outbox_sends_.at("retry") : *it->second;
}

void ControllerMetrics::SetJobsByState(const std::map<std::string, int64_t>& counts) {
  for (auto& [state, gauge] : jobs_by_state_) {
    auto it = counts.find(state);
    gauge->Set(it == counts.end() ? 0 : static_cast<double>(it->second));
  }
}

void ControllerMetrics::SetStoreBytes(const std::map<std::string, int64_t>& bytes) {
  for (const auto& [kind, n] : bytes)
    store_bytes_->Add({{"kind", kind}}).Set(static_cast<double>(n));
}

prometheus::Counter& ControllerMetrics::retention_removed_bytes(const std::string& kind) {
  return retention_removed_->Add({{"kind", kind}});
}

prometheus::Histogram& ControllerMetrics::rpc_latency(const std::string& method) {
  auto it = rpc_latency_.find(method);
  return it == rpc_latency_.end() ? *rpc_latency_.at("other") : *it->second;
}

}  // namespace perfgate::controller
