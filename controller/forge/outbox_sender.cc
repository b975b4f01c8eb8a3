#include "controller/forge/outbox_sender.h"

#include "absl/strings/str_cat.h"
#include "common/fault/failpoint.h"
#include "common/log/log.h"
#include "controller/campaign/campaign_report.h"

namespace perfgate::controller {
namespace {

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

void OutboxSender::Start() {
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      const uint64_t seen = wake_.generation();
      RunOnce();
      if (stop_) break;
      wake_.WaitForChange(seen, opts_.poll);
    }
  });
}

void OutboxSender::Stop() {
  stop_ = true;
  wake_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<ReportInput> OutboxSender::Input(int64_t run_id, int64_t superseded_by) {
  ReportInput in;
  auto run = jobs_.GetRun(run_id);
  if (!run.ok()) return run.status();
  in.run = *std::move(run);
  // The report needs the run's state and its jobs' (a failed job's message says why), not their
  // specs or attempts.
  for (v1::Job& j : *in.run.mutable_jobs()) {
    j.clear_spec();
    j.clear_attempts();
  }
  if (in.run.confirmed_by_run_id() != 0) {
    auto c = jobs_.GetRun(in.run.confirmed_by_run_id());
    if (c.ok()) {
      in.confirmation = *std::move(c);
      in.confirmation->clear_jobs();
    }
  }
  if (in.run.analysed()) {
    auto c = analysis_.LatestComparison(run_id);
    if (c.ok()) {
      in.comparison = *std::move(c);
    } else if (c.status().code() != absl::StatusCode::kNotFound) {
      return c.status();
    }
  }
  in.superseded_by = superseded_by;
  in.run_url = absl::StrCat(opts_.external_url, "/runs/", run_id);
  in.compare_url = absl::StrCat(in.run_url, "/compare");
  auto campaign = campaigns_.CampaignOfRun(run_id);
  if (!campaign.ok()) return campaign.status();
  if (*campaign != 0) {
    auto report = LoadCampaignReport(campaigns_, jobs_, results_, analysis_, *campaign);
    if (!report.ok()) return report.status();
    in.campaign = *std::move(report);
    in.campaign_url = absl::StrCat(opts_.external_url, "/campaigns/", *campaign);
  }
  return in;
}

absl::StatusOr<OutboxContent> OutboxSender::Render(const OutboxItem& item) {
  OutboxContent c;
  if (item.kind == kReply) {
    c.marker = absl::StrCat("<!-- perfgate:", item.target, " -->");
    c.text = absl::StrCat(item.body, "\n\n", c.marker);
    return c;
  }
  if (item.kind == kPrComment) {
    c.marker = kPrCommentMarker;
    std::vector<ReportInput> runs;
    for (int64_t id : item.head_runs) {
      auto in = Input(id, 0);
      if (!in.ok()) return in.status();
      runs.push_back(*std::move(in));
    }
    if (!runs.empty()) c.text = PrCommentBody(runs, item.head_sha);
    // on_change: nothing posted until something changed (an existing comment is kept current).
    if (item.comment_mode == "on_change" && item.remote_id.empty() && !AnyChange(runs))
      c.text.clear();
    return c;
  }
  auto in = Input(item.run_id, item.superseded_by);
  if (!in.ok()) return in.status();
  c.report = ReportRun(*in);
  c.suite = in->run.suite_name();
  c.sha = in->run.commit();
  c.run_id = in->run.id();
  c.details_url = in->campaign ? in->campaign_url : in->comparison ? in->compare_url : in->run_url;
  c.started_at = TimeOf(in->run.created_at());
  c.completed_at =
      TimeOf(in->campaign ? in->campaign->campaign().finished_at() : in->run.finished_at());
  return c;
}

SendOutcome OutboxSender::SendOne(const OutboxItem& item) {
  const absl::Time now = clock_.Now();
  SendOutcome o;
  auto client = clients_.find(item.forge);
  if (client == clients_.end() || !client->second) {
    o.kind = SendOutcome::Kind::kRetry;
    o.error = absl::StrCat("no ", item.forge,
                           " credentials configured on the controller (see docs/ci.md); "
                           "waiting for them");
    o.retry_at = now + absl::Minutes(5);
    return o;
  }
  auto content = Render(item);
  if (!content.ok()) {
    o.kind = content.status().code() == absl::StatusCode::kNotFound ? SendOutcome::Kind::kRefused
                                                                    : SendOutcome::Kind::kRetry;
    o.error = std::string(content.status().message());
    o.retry_at = now + absl::Seconds(30);
    return o;
  }
  if ((item.kind == kPrComment || item.kind == kReply) && content->text.empty())
    return o;  // nothing to say
  return client->second->Send(item, *content, now);
}

int OutboxSender::RunOnce() {
  int sent = 0;
  for (;;) {
    auto items = forge_.ClaimOutbox(opts_.batch, opts_.lease);
    if (!items.ok()) {
      spdlog::warn("component=outbox msg=\"claim failed\" error=\"{}\"", items.status().message());
      return sent;
    }
    if (items->empty()) return sent;
    for (const OutboxItem& item : *items) {
      if (stop_) return sent;
      SendOutcome o = SendOne(item);
      const char* result = o.kind == SendOutcome::Kind::kSent    ? "sent"
                           : o.kind == SendOutcome::Kind::kRetry ? "retry"
                                                                 : "refused";
      metrics_.outbox_sends(result).Increment();
      if (o.kind == SendOutcome::Kind::kSent) {
        ++sent;
        spdlog::info(
            "component=outbox msg=\"report sent\" id={} project={} kind={} target={} "
            "version={} remote_id={}",
            item.id, item.project, item.kind, item.target, item.version, o.remote_id);
      } else {
        spdlog::warn(
            "component=outbox msg=\"report not sent\" id={} project={} kind={} target={} "
            "result={} status={} error=\"{}\"",
            item.id, item.project, item.kind, item.target, result, o.http_status, o.error);
      }
      // A test kills the controller here: sent, not yet recorded (sent again once the row's
      // lease has run out).
      if (o.kind == SendOutcome::Kind::kSent) common::Failpoint("controller.outbox.after_send");
      if (auto s = forge_.FinishOutbox(item, o); !s.ok()) {
        spdlog::warn("component=outbox msg=\"cannot record the send\" id={} error=\"{}\"", item.id,
                     s.message());
      }
    }
  }
}

}  // namespace perfgate::controller
