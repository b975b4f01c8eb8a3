#include "controller/api/controller_service.h"

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"
#include "controller/queue/result_summary.h"
#include "controller/queue/run_spec.h"

namespace perfgate::controller {

using common::ToGrpcStatus;

namespace {
grpc::Status BadId(const char* field) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      std::string(field) + ": must be a positive run id");
}
}  // namespace

grpc::Status ControllerService::SubmitRun(grpc::ServerContext* ctx, const v1::SubmitRunRequest* req,
                                          v1::SubmitRunResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("SubmitRun"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  v1::RunSpec spec = req->spec();
  if (auto s = ValidateAndDefaultRunSpec(&spec, retry_); !s.ok()) return ToGrpcStatus(s);
  auto run = jobs_.SubmitRun(spec);
  if (!run.ok()) return ToGrpcStatus(run.status());
  spdlog::info("msg=\"run submitted\" run={} kind={} jobs={} branch={} commit={}", run->id(),
               RunKindName(spec.kind()), spec.jobs_size(), spec.branch(), spec.commit());
  work_.Notify();
  runs_.Notify();
  *resp->mutable_run() = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* req,
                                       v1::Run* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRun"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->id() <= 0) return BadId("id");
  auto run = jobs_.GetRun(req->id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  *resp = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* req,
                                         v1::ListRunsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListRuns"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (!v1::RunState_IsValid(req->state()))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "state: unknown");
  if (!v1::RunKind_IsValid(req->kind()))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "kind: unknown");
  auto list = jobs_.ListRuns(*req);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *resp = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status ControllerService::CancelRun(grpc::ServerContext* ctx, const v1::CancelRunRequest* req,
                                          v1::Run* resp) {
  ScopedLatency t(metrics_.rpc_latency("CancelRun"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->id() <= 0) return BadId("id");
  auto stops = jobs_.CancelRun(req->id());
  if (!stops.ok()) return ToGrpcStatus(stops.status());
  for (const StopOrder& o : *stops) {
    v1::ControllerMessage m;
    m.mutable_cancel()->set_attempt_id(o.attempt_id);
    m.mutable_cancel()->set_reason("run cancelled");
    // Agents on other replicas get the order through NOTIFY; here we deliver what we can.
    sessions_.SendTo(o.agent, m);
  }
  spdlog::info("msg=\"run cancel requested\" run={} live_attempts={}", req->id(), stops->size());
  runs_.Notify();
  auto run = jobs_.GetRun(req->id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  *resp = *std::move(run);
  return grpc::Status::OK;
}

namespace {
// A stream refused before it started.
class RejectedWatch : public grpc::ServerWriteReactor<v1::RunEvent> {
 public:
  explicit RejectedWatch(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};
}  // namespace

grpc::ServerWriteReactor<v1::RunEvent>* ControllerService::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* req) {
  if (auto s = auth_.Check(*ctx); !s.ok()) return new RejectedWatch(ToGrpcStatus(s));
  if (req->id() <= 0) return new RejectedWatch(BadId("id"));
  if (req->after_log_id() < 0) {
    return new RejectedWatch(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_log_id: negative"));
  }
  return watches_.Watch(*req);
}

grpc::Status ControllerService::GetRunLogs(grpc::ServerContext* ctx,
                                           const v1::GetRunLogsRequest* req,
                                           v1::GetRunLogsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRunLogs"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->run_id() <= 0) return BadId("run_id");
  if (req->after_id() < 0)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_id: negative");
  int limit = req->limit() <= 0 ? 1000 : std::min(req->limit(), 10000);
  auto logs = jobs_.GetRunLogs(req->run_id(), req->after_id(), limit);
  if (!logs.ok()) return ToGrpcStatus(logs.status());
  *resp = *std::move(logs);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetRunResults(grpc::ServerContext* ctx,
                                              const v1::GetRunResultsRequest* req,
                                              v1::RunResults* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRunResults"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->run_id() <= 0) return BadId("run_id");
  auto results = results_.GetRunResults(req->run_id());
  if (!results.ok()) return ToGrpcStatus(results.status());
  *resp = *std::move(results);
  SummarizeRunResults(resp);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListAgents(grpc::ServerContext* ctx, const v1::ListAgentsRequest*,
                                           v1::ListAgentsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListAgents"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  auto agents = agents_.ListAgents();
  if (!agents.ok()) return ToGrpcStatus(agents.status());
  for (auto& a : *agents) *resp->add_agents() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status ControllerService::DrainAgent(grpc::ServerContext* ctx,
                                           const v1::DrainAgentRequest* req, v1::Agent* resp) {
  ScopedLatency t(metrics_.rpc_latency("DrainAgent"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->name().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: is required");
  auto agent = agents_.SetDraining(req->name(), !req->undo());
  if (!agent.ok()) return ToGrpcStatus(agent.status());
  sessions_.SetDraining(req->name(), !req->undo());
  if (req->undo()) work_.Notify();
  spdlog::info("msg=\"agent drain\" agent={} draining={}", req->name(), !req->undo());
  *resp = *std::move(agent);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
