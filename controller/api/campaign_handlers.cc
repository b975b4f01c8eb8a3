// The campaign part of the Controller API: submit (one run per tier, checked against the agents
// that could run it), get, list, cancel, and the tier x metric report.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json/proto_json.h"
#include "common/spec/suite_tiers.h"
#include "common/status/grpc_status.h"
#include "common/time/cron.h"
#include "controller/api/api_roles.h"
#include "controller/api/controller_service.h"
#include "controller/api/handler_status.h"
#include "controller/campaign/campaign_report.h"
#include "controller/queue/agent_matcher.h"
#include "spdlog/spdlog.h"

namespace perfgate::controller {

using common::ToGrpcStatus;
namespace {

std::string SelectorText(const Labels& selector) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : std::map<std::string, std::string>(selector.begin(), selector.end()))
    parts.push_back(v.rfind(">=", 0) == 0 ? k + v : k + "=" + v);
  return absl::StrJoin(parts, ", ");
}

}  // namespace

grpc::Status ControllerService::SubmitCampaign(grpc::ServerContext* ctx,
                                               const v1::SubmitCampaignRequest* req,
                                               v1::Campaign* resp) {
  ScopedLatency t(metrics_.rpc_latency("SubmitCampaign"));
  auto who = Caller(*ctx, __func__);
  if (auto s = StoreReady(who.status(), campaigns_, "campaigns"); !s.ok()) return s;
  if (auto s = CheckRequestId(req->request_id()); !s.ok()) return ToGrpcStatus(s);
  v1::Campaign c = req->campaign();
  if (auto s = CheckCampaign(&c, req->wait_for_capacity()); !s.ok()) return s;
  for (auto& t : *c.mutable_tiers()) t.mutable_spec()->set_submitted_by(who->name);
  CampaignStore::Submission by{who->name, req->request_id(), ""};
  if (!by.request_id.empty()) {
    v1::SubmitCampaignRequest what = *req;  // the request as sent, but for its key
    what.clear_request_id();
    by.request_digest = common::ProtoDigest(what);
  }
  auto stored = campaigns_->SubmitCampaign(c, by);
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  if (stored->duplicate()) {
    spdlog::info("msg=\"campaign submission repeated\" campaign={} request_id={} by={}",
                 stored->id(), by.request_id, who->name);
    *resp = *std::move(stored);
    return grpc::Status::OK;
  }
  spdlog::info("msg=\"campaign submitted\" campaign={} suite={} tiers={} kind={} commit={}",
               stored->id(), stored->suite_name(), stored->tiers_size(), RunKindName(c.kind()),
               c.commit());
  work_.Notify();
  runs_.Notify();
  *resp = *std::move(stored);
  return grpc::Status::OK;
}

grpc::Status ControllerService::CheckCampaign(v1::Campaign* cp, bool wait_for_capacity) {
  v1::Campaign& c = *cp;
  if (c.tiers().empty()) return InvalidArgument("campaign.tiers: give at least one tier");
  if (c.tiers_size() > static_cast<int>(common::kMaxTiers))
    return InvalidArgument(absl::StrCat("campaign.tiers: at most ", common::kMaxTiers, " tiers"));
  if (c.suite_name().empty()) return InvalidArgument("campaign.suite_name: is required");
  std::vector<v1::Agent> agents;
  if (!wait_for_capacity) {
    auto a = agents_.ListAgents();
    if (!a.ok()) return ToGrpcStatus(a.status());
    agents = *std::move(a);
  }
  std::set<std::string> names;
  for (int i = 0; i < c.tiers_size(); ++i) {
    v1::CampaignTier& tier = *c.mutable_tiers(i);
    const std::string field = absl::StrCat("campaign.tiers[", i, "] (", tier.name(), ")");
    if (tier.name().empty() || tier.name().size() > 32)
      return InvalidArgument(absl::StrCat("campaign.tiers[", i, "].name: 1 to 32 characters"));
    if (!names.insert(tier.name()).second)
      return InvalidArgument(absl::StrCat(field, ": the tier is named twice"));
    if (tier.params_size() > static_cast<int>(common::kMaxParams))
      return InvalidArgument(absl::StrCat(field, ".params: at most ", common::kMaxParams));
    v1::RunSpec& spec = *tier.mutable_spec();
    spec.set_project(c.project());
    spec.set_branch(c.branch());
    spec.set_commit(c.commit());
    spec.set_kind(c.kind());
    spec.set_suite_name(c.suite_name());
    if (auto s = common::ValidateAndDefaultRunSpec(&spec, spec_limits_); !s.ok())
      return InvalidArgument(absl::StrCat(field, ".spec: ", s.message()));
    if (wait_for_capacity) continue;
    // Refused now rather than queued forever: a tier no agent known here could run.
    for (const v1::JobSpec& job : spec.jobs()) {
      bool fits = false;
      for (const v1::Agent& a : agents) {
        Labels labels = a.labels();
        labels[kAgentNameLabel] = a.name();
        fits = fits || SelectorMatches(job.agent_selector(), labels);
      }
      if (!fits) {
        return grpc::Status(
            grpc::StatusCode::FAILED_PRECONDITION,
            absl::StrCat(field, ": job ", job.name(), " needs an agent with ",
                         SelectorText(job.agent_selector()), ", and none of the ", agents.size(),
                         " agents known to the controller has that; give the tier fewer hosts, "
                         "start such an agent, or submit with --wait-for-capacity to queue it"));
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetCampaign(grpc::ServerContext* ctx,
                                            const v1::GetCampaignRequest* req, v1::Campaign* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetCampaign"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), campaigns_, "campaigns"); !s.ok())
    return s;
  if (req->id() <= 0) return InvalidArgument("id: must be a campaign id");
  auto c = campaigns_->GetCampaign(req->id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp = *std::move(c);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListCampaigns(grpc::ServerContext* ctx,
                                              const v1::ListCampaignsRequest* req,
                                              v1::ListCampaignsResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListCampaigns"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), campaigns_, "campaigns"); !s.ok())
    return s;
  if (req->project().size() > 256 || req->branch().size() > 256)
    return InvalidArgument("project, branch: at most 256 bytes");
  auto list = campaigns_->ListCampaigns(*req);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *resp = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status ControllerService::CancelCampaign(grpc::ServerContext* ctx,
                                               const v1::CancelCampaignRequest* req,
                                               v1::Campaign* resp) {
  ScopedLatency t(metrics_.rpc_latency("CancelCampaign"));
  auto who = Caller(*ctx, __func__);
  if (auto s = StoreReady(who.status(), campaigns_, "campaigns"); !s.ok()) return s;
  if (req->id() <= 0) return InvalidArgument("id: must be a campaign id");
  // A campaign is its submitter's: the one who submitted its runs.
  auto before = campaigns_->GetCampaign(req->id());
  if (!before.ok()) return ToGrpcStatus(before.status());
  if (before->tiers_size() > 0) {
    auto first = jobs_.GetRun(before->tiers(0).run_id());
    if (!first.ok()) return ToGrpcStatus(first.status());
    if (auto s = MayActOnOwn(*who, first->submitted_by(), absl::StrCat("campaign ", req->id()));
        !s.ok()) {
      metrics_.calls_refused("CancelCampaign").Increment();
      return ToGrpcStatus(s);
    }
  }
  auto stops = campaigns_->CancelCampaign(req->id(), who->name);
  if (!stops.ok()) return ToGrpcStatus(stops.status());
  for (const StopOrder& o : *stops)
    sessions_.SendCancel(o.agent, o.attempt_id, "campaign cancelled");
  spdlog::info("msg=\"campaign cancel requested\" campaign={} live_attempts={}", req->id(),
               stops->size());
  runs_.Notify();
  auto c = campaigns_->GetCampaign(req->id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp = *std::move(c);
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetCampaignReport(grpc::ServerContext* ctx,
                                                  const v1::GetCampaignReportRequest* req,
                                                  v1::Report* resp) {
  ScopedLatency t(metrics_.rpc_latency("GetCampaignReport"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), campaigns_, "campaigns"); !s.ok())
    return s;
  if (req->id() <= 0) return InvalidArgument("id: must be a campaign id");
  const std::string format = req->format().empty() ? "text" : req->format();
  if (format != "md" && format != "json" && format != "text" && format != "html")
    return InvalidArgument("format: must be text, md, json or html");
  if (format == "html") {  // the page is served by the controller's HTTP port
    resp->set_content_type("text/uri-list");
    resp->set_body(absl::StrCat(external_url_, "/campaigns/", req->id()));
    return grpc::Status::OK;
  }
  auto loaded = LoadCampaignReport(*campaigns_, jobs_, results_, analysis_, req->id());
  if (!loaded.ok()) return ToGrpcStatus(loaded.status());
  const v1::CampaignReport& report = *loaded;
  if (format == "md") {
    resp->set_content_type("text/markdown");
    resp->set_body(
        RenderCampaignMarkdown(report, absl::StrCat(external_url_, "/campaigns/", req->id())));
  } else if (format == "json") {
    resp->set_content_type("application/json");
    resp->set_body(RenderCampaignJson(report));
  } else {
    resp->set_content_type("text/plain");
    resp->set_body(RenderCampaignText(report));
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::AddSchedule(grpc::ServerContext* ctx,
                                            const v1::AddScheduleRequest* req, v1::Schedule* resp) {
  ScopedLatency t(metrics_.rpc_latency("AddSchedule"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), schedules_, "schedules"); !s.ok())
    return s;
  v1::Schedule s = req->schedule();
  auto cron = common::CronSchedule::Parse(s.cron());
  if (!cron.ok()) return InvalidArgument(absl::StrCat("schedule.cron: ", cron.status().message()));
  if (s.branch().empty() || s.branch().size() > 256)
    return InvalidArgument("schedule.branch: is required (each fire measures its head), at most 256 bytes");
  if (s.kind() == v1::RUN_KIND_UNSPECIFIED) s.set_kind(v1::RUN_KIND_BASELINE);
  if (s.kind() == v1::RUN_KIND_CANDIDATE)
    return InvalidArgument("schedule.kind: baseline or experiment (a candidate is compared with a branch)");
  if (s.has_run()) {
    v1::RunSpec& spec = *s.mutable_run();
    spec.set_branch(s.branch());
    spec.set_kind(s.kind());
    if (!s.project().empty()) spec.set_project(s.project());
    s.set_project(spec.project());
    s.set_suite_name(spec.suite_name());
    if (auto st = common::ValidateAndDefaultRunSpec(&spec, spec_limits_); !st.ok())
      return InvalidArgument(absl::StrCat("schedule.run: ", st.message()));
  } else if (s.has_campaign()) {
    v1::Campaign& c = *s.mutable_campaign()->mutable_campaign();
    c.set_branch(s.branch());
    c.set_kind(s.kind());
    if (!s.project().empty()) c.set_project(s.project());
    s.set_project(c.project());
    s.set_suite_name(c.suite_name());
    // Checked as a submission, except for capacity: agents may come and go before it fires.
    if (auto st = CheckCampaign(&c, /*wait_for_capacity=*/true); !st.ok()) return st;
  } else {
    return InvalidArgument("schedule: give a campaign or a run to submit");
  }
  s.clear_id();
  const absl::Time next = cron->Next(absl::Now());
  if (next == absl::InfiniteFuture())
    return InvalidArgument("schedule.cron: '" + s.cron() + "' never fires");
  s.mutable_next_fire_at()->set_seconds(absl::ToUnixSeconds(next));
  auto stored = schedules_->AddSchedule(s);
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  spdlog::info("msg=\"schedule added\" schedule={} cron=\"{}\" branch={} suite={}", stored->id(),
               s.cron(), s.branch(), s.suite_name());
  *resp = *std::move(stored);
  return grpc::Status::OK;
}

grpc::Status ControllerService::ListSchedules(grpc::ServerContext* ctx,
                                              const v1::ListSchedulesRequest*,
                                              v1::ListSchedulesResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("ListSchedules"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), schedules_, "schedules"); !s.ok())
    return s;
  auto list = schedules_->ListSchedules(/*with_specs=*/false);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& s : *list) *resp->add_schedules() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status ControllerService::SetSchedulePaused(grpc::ServerContext* ctx,
                                                  const v1::SetSchedulePausedRequest* req,
                                                  v1::Schedule* resp) {
  ScopedLatency t(metrics_.rpc_latency("SetSchedulePaused"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), schedules_, "schedules"); !s.ok())
    return s;
  if (req->id() <= 0) return InvalidArgument("id: must be a schedule id");
  auto s = schedules_->SetPaused(req->id(), req->paused());
  if (!s.ok()) return ToGrpcStatus(s.status());
  spdlog::info("msg=\"schedule {}\" schedule={}", req->paused() ? "paused" : "resumed", req->id());
  *resp = *std::move(s);
  return grpc::Status::OK;
}

grpc::Status ControllerService::RemoveSchedule(grpc::ServerContext* ctx,
                                               const v1::RemoveScheduleRequest* req,
                                               v1::Schedule* resp) {
  ScopedLatency t(metrics_.rpc_latency("RemoveSchedule"));
  if (auto s = StoreReady(Caller(*ctx, __func__).status(), schedules_, "schedules"); !s.ok())
    return s;
  if (req->id() <= 0) return InvalidArgument("id: must be a schedule id");
  auto s = schedules_->RemoveSchedule(req->id());
  if (!s.ok()) return ToGrpcStatus(s.status());
  spdlog::info("msg=\"schedule removed\" schedule={}", req->id());
  *resp = *std::move(s);
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
