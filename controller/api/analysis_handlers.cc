// The analysis part of the Controller API: comparisons, reports, history, change points,
// alerts. Reads what the analyser stored; CompareRun with an explicit run computes afresh.
#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"
#include "controller/api/controller_service.h"
#include "controller/api/handler_status.h"
#include "controller/report/render.h"

namespace perfgate::controller {

using common::ToGrpcStatus;
namespace {

grpc::Status CheckText(const char* field, const std::string& v, size_t max = 256) {
  if (v.size() > max) return InvalidArgument(absl::StrCat(field, ": at most ", max, " bytes"));
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ControllerService::CompareRun(grpc::ServerContext* ctx,
                                           const v1::CompareRunRequest* req, v1::Comparison* resp) {
  ScopedLatency t(metrics_.rpc_latency("CompareRun"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return InvalidArgument("run_id: must be a run id");
  if (req->against_run_id() < 0) return InvalidArgument("against_run_id: must be a run id");
  auto c = req->against_run_id() != 0 ? analyser_.Compare(req->run_id(), req->against_run_id())
                                      : analysis_.LatestComparison(req->run_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp = *std::move(c);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* req,
                                          v1::Report* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetReport"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (req->run_id() <= 0) return InvalidArgument("run_id: must be a run id");
  const std::string format = req->format().empty() ? "text" : req->format();
  if (format != "md" && format != "json" && format != "text" && format != "html")
    return InvalidArgument("format: must be md, json, text or html");
  const std::string page = absl::StrCat(external_url_, "/runs/", req->run_id(), "/compare");
  if (format == "html") {
    resp->set_content_type("text/uri-list");
    resp->set_body(page);  // the page is served by the controller's HTTP port
    return grpc::Status::OK;
  }
  auto c = analysis_.LatestComparison(req->run_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  if (format == "md") {
    resp->set_content_type("text/markdown");
    resp->set_body(RenderMarkdown(*c, page));
  } else if (format == "json") {
    resp->set_content_type("application/json");
    resp->set_body(RenderJson(*c));
  } else {
    resp->set_content_type("text/plain");
    resp->set_body(RenderText(*c));
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetHistory(grpc::ServerContext* ctx,
                                           const v1::GetHistoryRequest* req, v1::History* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetHistory"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  for (auto [f, v] : {std::pair{"project", &req->project()},
                      {"branch", &req->branch()},
                      {"suite_name", &req->suite_name()},
                      {"machine_class", &req->machine_class()},
                      {"job_name", &req->job_name()},
                      {"metric", &req->metric()}}) {
    if (auto s = CheckText(f, *v); !s.ok()) return s;
  }
  auto h = analysis_.GetHistory(*req);
  if (!h.ok()) return ToGrpcStatus(h.status());
  *resp = *std::move(h);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListChangePoints(grpc::ServerContext* ctx,
                                                 const v1::ListChangePointsRequest* req,
                                                 v1::ListChangePointsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListChangePoints"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (auto s = CheckText("suite_name", req->suite_name()); !s.ok()) return s;
  if (auto s = CheckText("state", req->state()); !s.ok()) return s;
  auto r = analysis_.ListChangePoints(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status ControllerService::TriageChangePoint(grpc::ServerContext* ctx,
                                                  const v1::TriageChangePointRequest* req,
                                                  v1::ChangePointRecord* resp) {
  ScopedLatency t(metrics_.rpc_latency("TriageChangePoint"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->id() <= 0) return InvalidArgument("id: must be a change point id");
  auto r = analysis_.TriageChangePoint(*req, who->name);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListAlerts(grpc::ServerContext* ctx,
                                           const v1::ListAlertsRequest* req,
                                           v1::ListAlertsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListAlerts"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (auto s = CheckText("state", req->state()); !s.ok()) return s;
  auto r = analysis_.ListAlerts(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status ControllerService::UpdateAlert(grpc::ServerContext* ctx,
                                            const v1::UpdateAlertRequest* req, v1::Alert* resp) {
  ScopedLatency t(metrics_.rpc_latency("UpdateAlert"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->id() <= 0) return InvalidArgument("id: must be an alert id");
  auto r = analysis_.UpdateAlert(*req, who->name);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
