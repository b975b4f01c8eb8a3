// The bisection part of the Controller API (docs/bisect.md): start, get, list, cancel, mark a
// commit by hand, and the Markdown report.
#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"
#include "controller/api/api_roles.h"
#include "controller/api/controller_service.h"
#include "controller/api/handler_status.h"
#include "controller/bisect/bisect_report.h"
#include "spdlog/spdlog.h"

namespace perfgate::controller {

using common::ToGrpcStatus;
namespace {

grpc::Status BadBisectionId(int64_t id) {
  return id > 0 ? grpc::Status::OK
                : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id: must be a bisection id");
}

}  // namespace

grpc::Status ControllerService::StartBisection(grpc::ServerContext* ctx,
                                               const v1::StartBisectionRequest* req,
                                               v1::Bisection* resp) {
  ScopedLatency t(metrics_.rpc_latency("StartBisection"));
  auto who = Caller(*ctx, __func__);
  if (auto s = StoreReady(who.status(), bisector_, "bisections"); !s.ok()) return s;
  auto b = bisector_->StartBisection(*req, who->name);
  if (!b.ok()) return ToGrpcStatus(b.status());
  spdlog::info(
      "msg=\"bisection started\" bisection={} project={} suite={} metric={} good={} bad={} "
      "agent={} by={}",
      b->id(), b->project(), b->suite_name(), b->metric(), b->good(), b->bad(), b->agent(),
      who->name);
  work_.Notify();
  runs_.Notify();
  *resp = *std::move(b);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetBisection(grpc::ServerContext* ctx,
                                             const v1::GetBisectionRequest* req,
                                             v1::Bisection* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetBisection"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), bisections_, "bisections"); !s.ok())
    return s;
  if (auto s = BadBisectionId(req->id()); !s.ok()) return s;
  auto b = bisections_->GetBisection(req->id());
  if (!b.ok()) return ToGrpcStatus(b.status());
  *resp = *std::move(b);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListBisections(grpc::ServerContext* ctx,
                                               const v1::ListBisectionsRequest* req,
                                               v1::ListBisectionsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListBisections"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), bisections_, "bisections"); !s.ok())
    return s;
  if (req->limit() < 0 || req->limit() > 500)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: 0 (50) to 500");
  auto l = bisections_->ListBisections(*req);
  if (!l.ok()) return ToGrpcStatus(l.status());
  *resp = *std::move(l);
  return grpc::Status::OK;
}

grpc::Status ControllerService::CancelBisection(grpc::ServerContext* ctx,
                                                const v1::CancelBisectionRequest* req,
                                                v1::Bisection* resp) {
  ScopedLatency t(metrics_.rpc_latency("CancelBisection"));
  auto who = Caller(*ctx, __func__);
  if (auto s = StoreReady(who.status(), bisections_, "bisections"); !s.ok()) return s;
  if (auto s = BadBisectionId(req->id()); !s.ok()) return s;
  auto before = bisections_->GetBisection(req->id());
  if (!before.ok()) return ToGrpcStatus(before.status());
  if (auto s = MayActOnOwn(*who, before->created_by(), absl::StrCat("bisection ", req->id()));
      !s.ok()) {
    metrics_.calls_refused("CancelBisection").Increment();
    return ToGrpcStatus(s);
  }
  auto stops = bisections_->CancelBisection(req->id(), who->name);
  if (!stops.ok()) return ToGrpcStatus(stops.status());
  for (const StopOrder& o : *stops)
    sessions_.SendCancel(o.agent, o.attempt_id, "bisection cancelled");
  spdlog::info("msg=\"bisection cancelled\" bisection={} live_attempts={} by={}", req->id(),
               stops->size(), who->name);
  runs_.Notify();
  auto b = bisections_->GetBisection(req->id());
  if (!b.ok()) return ToGrpcStatus(b.status());
  *resp = *std::move(b);
  return grpc::Status::OK;
}

grpc::Status ControllerService::MarkBisection(grpc::ServerContext* ctx,
                                              const v1::MarkBisectionRequest* req,
                                              v1::Bisection* resp) {
  ScopedLatency t(metrics_.rpc_latency("MarkBisection"));
  auto who = Caller(*ctx, __func__);
  if (auto s = StoreReady(who.status(), bisector_, "bisections"); !s.ok()) return s;
  if (auto s = BadBisectionId(req->id()); !s.ok()) return s;
  auto before = bisections_->GetBisection(req->id());
  if (!before.ok()) return ToGrpcStatus(before.status());
  if (auto s = MayActOnOwn(*who, before->created_by(), absl::StrCat("bisection ", req->id()));
      !s.ok()) {
    metrics_.calls_refused("MarkBisection").Increment();
    return ToGrpcStatus(s);
  }
  auto b = bisector_->Mark(*req);
  if (!b.ok()) return ToGrpcStatus(b.status());
  spdlog::info("msg=\"bisection commit marked\" bisection={} commit={} mark={} by={}", req->id(),
               req->commit(), v1::CommitMark_Name(req->mark()), who->name);
  work_.Notify();
  *resp = *std::move(b);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetBisectionReport(grpc::ServerContext* ctx,
                                                   const v1::GetBisectionRequest* req,
                                                   v1::Report* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetBisectionReport"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), bisections_, "bisections"); !s.ok())
    return s;
  if (auto s = BadBisectionId(req->id()); !s.ok()) return s;
  auto b = bisections_->GetBisection(req->id());
  if (!b.ok()) return ToGrpcStatus(b.status());
  std::optional<v1::Comparison> culprit;
  if (b->culprit_run_id() != 0) {
    auto c = analysis_.LatestComparison(b->culprit_run_id());
    if (c.ok()) culprit = *std::move(c);
  }
  resp->set_content_type("text/markdown");
  resp->set_body(BisectionMarkdown(*b, culprit ? &*culprit : nullptr, external_url_));
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
