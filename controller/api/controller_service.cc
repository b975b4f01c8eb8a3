#include "controller/api/controller_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/fault/failpoint.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"
#include "controller/api/api_roles.h"
#include "controller/profile/pprof.h"
#include "controller/queue/rerun.h"
#include "controller/queue/result_summary.h"

namespace perfgate::controller {

using common::ToGrpcStatus;

namespace {
grpc::Status BadId(const char* field) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      std::string(field) + ": must be a positive run id");
}
}  // namespace

absl::Status CheckRequestId(const std::string& id) {
  if (id.size() > 128)
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: at most 128 characters, got ", id.size()));
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-')
      return absl::InvalidArgumentError("request_id: only letters, digits and . _ : - are allowed");
  }
  return absl::OkStatus();
}

grpc::Status ControllerService::SubmitRun(grpc::ServerContext* ctx, const v1::SubmitRunRequest* req,
                                          v1::SubmitRunResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("SubmitRun"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  return Submit(req->spec(), *who, resp, req->request_id());
}

grpc::Status ControllerService::RerunRun(grpc::ServerContext* ctx, const v1::RerunRunRequest* req,
                                         v1::SubmitRunResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("RerunRun"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->id() <= 0) return BadId("id");
  auto run = jobs_.GetRun(req->id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  auto spec = RerunSpec(*run);
  if (!spec.ok()) return ToGrpcStatus(spec.status());
  spdlog::info("msg=\"rerun requested\" of_run={} by={}", req->id(), who->name);
  return Submit(*std::move(spec), *who, resp);
}

absl::StatusOr<common::Principal> ControllerService::Caller(const grpc::ServerContextBase& ctx,
                                                            const char* method) {
  auto who = Authorize(auth_, ctx, method);
  if (absl::IsPermissionDenied(who.status())) {
    spdlog::warn("msg=\"API call refused\" method={} peer={} error=\"{}\"", method, ctx.peer(),
                 who.status().message());
    metrics_.calls_refused(method).Increment();
  }
  return who;
}

grpc::Status ControllerService::Submit(v1::RunSpec spec, const common::Principal& who,
                                       v1::SubmitRunResponse* resp, const std::string& request_id) {
  if (auto s = CheckRequestId(request_id); !s.ok()) return ToGrpcStatus(s);
  if (auto s = common::ValidateAndDefaultRunSpec(&spec, spec_limits_); !s.ok())
    return ToGrpcStatus(s);
  spec.set_submitted_by(who.name);
  spec.set_request_id(request_id);
  bool duplicate = false;
  auto run = jobs_.SubmitRun(spec, &duplicate);
  if (!run.ok()) return ToGrpcStatus(run.status());
  common::Failpoint("controller.submit_run.after_commit");
  resp->set_duplicate(duplicate);
  if (duplicate) {
    spdlog::info("msg=\"run submission repeated\" run={} request_id={} by={}", run->id(),
                 request_id, who.name);
    *resp->mutable_run() = *std::move(run);
    return grpc::Status::OK;
  }
  spdlog::info("msg=\"run submitted\" run={} kind={} jobs={} branch={} commit={} by={}", run->id(),
               RunKindName(spec.kind()), spec.jobs_size(), spec.branch(), spec.commit(), who.name);
  work_.Notify();
  runs_.Notify();
  *resp->mutable_run() = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* req,
                                       v1::Run* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRun"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->id() <= 0) return BadId("id");
  auto run = jobs_.GetRun(req->id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  *resp = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* req,
                                         v1::ListRunsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListRuns"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
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
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->id() <= 0) return BadId("id");
  auto before = jobs_.GetRun(req->id());
  if (!before.ok()) return ToGrpcStatus(before.status());
  if (auto s = MayActOnOwn(*who, before->submitted_by(), absl::StrCat("run ", req->id()));
      !s.ok()) {
    metrics_.calls_refused("CancelRun").Increment();
    return ToGrpcStatus(s);
  }
  auto stops = jobs_.CancelRun(req->id(), who->name);
  if (!stops.ok()) return ToGrpcStatus(stops.status());
  // Agents on other replicas get the order through NOTIFY; here we deliver what we can.
  for (const StopOrder& o : *stops) sessions_.SendCancel(o.agent, o.attempt_id, "run cancelled");
  spdlog::info("msg=\"run cancel requested\" run={} live_attempts={} by={}", req->id(),
               stops->size(), who->name);
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
  if (auto who = Caller(*ctx, __func__); !who.ok())
    return new RejectedWatch(ToGrpcStatus(who.status()));
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
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
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
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return BadId("run_id");
  auto results = results_.GetRunResults(req->run_id());
  if (!results.ok()) return ToGrpcStatus(results.status());
  *resp = *std::move(results);
  SummarizeRunResults(resp);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetRunSeries(grpc::ServerContext* ctx,
                                             const v1::GetRunSeriesRequest* req,
                                             v1::GetRunSeriesResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRunSeries"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return BadId("run_id");
  if (req->name().empty() || req->name().size() > 256)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: 1 to 256 bytes");
  auto r = results_.GetRunSeries(req->run_id(), req->name());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetRunDbStats(grpc::ServerContext* ctx,
                                              const v1::GetRunDbStatsRequest* req,
                                              v1::GetRunDbStatsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetRunDbStats"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return BadId("run_id");
  auto r = results_.GetRunDbStats(req->run_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListProfiles(grpc::ServerContext* ctx,
                                             const v1::ListProfilesRequest* req,
                                             v1::ListProfilesResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListProfiles"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return BadId("run_id");
  auto r = results_.ListProfiles(req->run_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

namespace {

// A stored profile, parsed. The id is named in errors.
absl::StatusOr<Profile> LoadProfile(ResultStore& results, int64_t id) {
  auto p = results.GetProfile(id);
  if (!p.ok()) return p.status();
  auto parsed = Profile::Parse(p->second);
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("profile ", id, " (", p->first.service(), " ",
                                                      p->first.kind(),
                                                      "): ", parsed.status().message()));
  }
  return parsed;
}

int Limit(int32_t asked) { return asked <= 0 ? 20 : std::min(asked, 1000); }

}  // namespace

grpc::Status ControllerService::GetProfileTop(grpc::ServerContext* ctx,
                                              const v1::GetProfileTopRequest* req,
                                              v1::ProfileTop* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetProfileTop"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->profile_id() <= 0) return BadId("profile_id");
  auto p = LoadProfile(results_, req->profile_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  auto top = TopFunctions(*p, req->sample_type(), Limit(req->limit()));
  if (!top.ok()) return ToGrpcStatus(top.status());
  *resp = *std::move(top);
  resp->set_profile_id(req->profile_id());
  return grpc::Status::OK;
}

grpc::Status ControllerService::DiffProfiles(grpc::ServerContext* ctx,
                                             const v1::DiffProfilesRequest* req,
                                             v1::ProfileDiff* resp) {
  ScopedLatency t(metrics_.rpc_latency("DiffProfiles"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->base_id() <= 0) return BadId("base_id");
  if (req->candidate_id() <= 0) return BadId("candidate_id");
  auto base = LoadProfile(results_, req->base_id());
  if (!base.ok()) return ToGrpcStatus(base.status());
  auto cand = LoadProfile(results_, req->candidate_id());
  if (!cand.ok()) return ToGrpcStatus(cand.status());
  auto d = controller::DiffProfiles(*base, *cand, req->sample_type(), Limit(req->limit()));
  if (!d.ok()) return ToGrpcStatus(d.status());
  *resp = *std::move(d);
  resp->set_base_id(req->base_id());
  resp->set_candidate_id(req->candidate_id());
  return grpc::Status::OK;
}

grpc::Status ControllerService::DownloadProfile(grpc::ServerContext* ctx,
                                                const v1::DownloadProfileRequest* req,
                                                grpc::ServerWriter<v1::DownloadProfileChunk>* w) {
  ScopedLatency t(metrics_.rpc_latency("DownloadProfile"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->profile_id() <= 0) return BadId("profile_id");
  auto p = results_.GetProfile(req->profile_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  const std::string& bytes = p->second;
  constexpr size_t kChunk = 1 << 20;
  size_t off = 0;
  do {
    v1::DownloadProfileChunk c;
    if (off == 0) {
      c.set_size(static_cast<int64_t>(bytes.size()));
      c.set_sha256(p->first.sha256());
    }
    c.set_data(bytes.substr(off, kChunk));
    off += kChunk;
    if (!w->Write(c)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  } while (off < bytes.size());
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListAgents(grpc::ServerContext* ctx, const v1::ListAgentsRequest*,
                                           v1::ListAgentsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListAgents"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  auto agents = agents_.ListAgents();
  if (!agents.ok()) return ToGrpcStatus(agents.status());
  for (auto& a : *agents) *resp->add_agents() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status ControllerService::DrainAgent(grpc::ServerContext* ctx,
                                           const v1::DrainAgentRequest* req, v1::Agent* resp) {
  ScopedLatency t(metrics_.rpc_latency("DrainAgent"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->name().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: is required");
  auto agent = agents_.SetDraining(req->name(), !req->undo(), who->name);
  if (!agent.ok()) return ToGrpcStatus(agent.status());
  sessions_.SetDraining(req->name(), !req->undo());
  if (req->undo()) work_.Notify();
  spdlog::info("msg=\"agent drain\" agent={} draining={} by={}", req->name(), !req->undo(),
               who->name);
  *resp = *std::move(agent);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
