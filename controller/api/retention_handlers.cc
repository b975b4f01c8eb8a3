// The retention part of the Controller API: what the store holds, and removing logs and
// profiles past an age (the policy's, or the caller's), or saying what would go.
#include "common/status/grpc_status.h"
#include "controller/api/controller_service.h"
#include "spdlog/spdlog.h"

namespace perfgate::controller {

using common::ToGrpcStatus;

namespace {
// At most ten years: an age in days that absl::Duration and PostgreSQL's intervals both hold.
constexpr int32_t kMaxDays = 3650;
}  // namespace

grpc::Status ControllerService::GetStorage(grpc::ServerContext* ctx, const v1::GetStorageRequest*,
                                           v1::Storage* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetStorage"));
  if (auto who = Caller(*ctx, __func__); !who.ok()) return ToGrpcStatus(who.status());
  if (retention_ == nullptr)
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this controller keeps no store usage");
  auto usage = retention_->Usage();
  if (!usage.ok()) return ToGrpcStatus(usage.status());
  *resp = *std::move(usage);
  resp->set_logs_retention_days(
      static_cast<int32_t>(absl::ToInt64Hours(retention_policy_.logs) / 24));
  resp->set_profiles_retention_days(
      static_cast<int32_t>(absl::ToInt64Hours(retention_policy_.profiles) / 24));
  return grpc::Status::OK;
}

grpc::Status ControllerService::CollectGarbage(grpc::ServerContext* ctx,
                                               const v1::CollectGarbageRequest* req,
                                               v1::CollectGarbageResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("CollectGarbage"));
  auto who = Caller(*ctx, __func__);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (retention_ == nullptr)
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this controller keeps no store");
  for (auto [field, days] :
       {std::pair{"logs_older_than_days", req->logs_older_than_days()},
        std::pair{"profiles_older_than_days", req->profiles_older_than_days()}}) {
    if (days < 0 || days > kMaxDays) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(field) + ": must be 0 (the controller's policy) to " +
                              std::to_string(kMaxDays) + " days, got " + std::to_string(days));
    }
  }
  RetentionAges ages = retention_policy_;
  if (req->logs_older_than_days() > 0) ages.logs = absl::Hours(24) * req->logs_older_than_days();
  if (req->profiles_older_than_days() > 0)
    ages.profiles = absl::Hours(24) * req->profiles_older_than_days();
  auto r = retention_->Collect(ages, req->dry_run());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const auto& k : r->kinds()) {
    if (!req->dry_run()) metrics_.retention_removed_bytes(k.kind()).Increment(k.bytes());
    spdlog::info("msg=\"garbage collected\" dry_run={} kind={} runs={} items={} bytes={} by={}",
                 req->dry_run(), k.kind(), k.runs(), k.items(), k.bytes(), who->name);
  }
  *resp = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
