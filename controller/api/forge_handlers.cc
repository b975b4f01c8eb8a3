// The CI integration part of the Controller API: projects and the outbox of forge reports.
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"
#include "controller/api/controller_service.h"
#include "controller/forge/project_rules.h"

namespace perfgate::controller {

using common::ToGrpcStatus;
namespace {

grpc::Status NoForge() {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this controller has no CI integration");
}

grpc::Status CheckName(const std::string& name) {
  if (name.empty() || name.size() > 63)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: 1 to 63 characters");
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ControllerService::PutProject(grpc::ServerContext* ctx,
                                           const v1::PutProjectRequest* req, v1::Project* resp,
                                           bool create) {
  const char* method = create ? "AddProject" : "UpdateProject";
  ScopedLatency t(metrics_.rpc_latency(method));
  if (auto who = Caller(*ctx, method); !who.ok()) return ToGrpcStatus(who.status());
  if (!forge_) return NoForge();
  v1::Project p = req->project();
  if (auto s = ValidateProject(&p); !s.ok()) return ToGrpcStatus(s);
  auto out = forge_->PutProject(p, create);
  if (!out.ok()) return ToGrpcStatus(out.status());
  spdlog::info("msg=\"project {}\" project={} forge={} repository={} suites={}",
               create ? "added" : "updated", p.name(), p.forge(), p.repository(), p.suites_size());
  if (on_project_change_) on_project_change_();
  *resp = *std::move(out);
  return grpc::Status::OK;
}

grpc::Status ControllerService::AddProject(grpc::ServerContext* ctx,
                                           const v1::PutProjectRequest* req, v1::Project* resp) {
  return PutProject(ctx, req, resp, true);
}

grpc::Status ControllerService::UpdateProject(grpc::ServerContext* ctx,
                                              const v1::PutProjectRequest* req, v1::Project* resp) {
  return PutProject(ctx, req, resp, false);
}

grpc::Status ControllerService::GetProject(grpc::ServerContext* ctx,
                                           const v1::GetProjectRequest* req, v1::Project* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetProject"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (!forge_) return NoForge();
  if (auto s = CheckName(req->name()); !s.ok()) return s;
  auto p = forge_->GetProject(req->name());
  if (!p.ok()) return ToGrpcStatus(p.status());
  *resp = *std::move(p);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListProjects(grpc::ServerContext* ctx,
                                             const v1::ListProjectsRequest*,
                                             v1::ListProjectsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListProjects"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (!forge_) return NoForge();
  auto list = forge_->ListProjects();
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& p : *list) *resp->add_projects() = std::move(p);
  return grpc::Status::OK;
}

grpc::Status ControllerService::RemoveProject(grpc::ServerContext* ctx,
                                              const v1::GetProjectRequest* req, v1::Project* resp) {
  ScopedLatency t(metrics_.rpc_latency("RemoveProject"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (!forge_) return NoForge();
  if (auto s = CheckName(req->name()); !s.ok()) return s;
  auto p = forge_->RemoveProject(req->name());
  if (!p.ok()) return ToGrpcStatus(p.status());
  spdlog::info("msg=\"project removed\" project={}", req->name());
  if (on_project_change_) on_project_change_();
  *resp = *std::move(p);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListOutbox(grpc::ServerContext* ctx,
                                           const v1::ListOutboxRequest* req,
                                           v1::ListOutboxResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListOutbox"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (!forge_) return NoForge();
  const std::string& st = req->state();
  if (!st.empty() && st != "pending" && st != "done" && st != "failed")
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "state: `" + st + "` is not pending, done or failed");
  if (req->limit() < 0 || req->limit() > 1000)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: 0 to 1000");
  auto list = forge_->ListOutbox(req->project(), st, req->limit() == 0 ? 100 : req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& e : *list) *resp->add_entries() = std::move(e);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
