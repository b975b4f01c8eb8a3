#include "controller/forge/forge_report.h"

#include "absl/strings/str_cat.h"
#include "controller/campaign/campaign_report.h"
#include "controller/report/render.h"

namespace perfgate::controller {
namespace {

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

// Within `limit` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(std::string s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

RunReport Completed(RunReport r, std::string conclusion, std::string title) {
  r.status = RunReport::Status::kCompleted;
  r.conclusion = std::move(conclusion);
  r.title = std::move(title);
  if (r.conclusion == "success") {
    r.status_state = "success";
    r.gitlab_state = "success";
  } else if (r.conclusion == "failure") {
    r.status_state = "failure";
    r.gitlab_state = "failed";
  } else if (r.conclusion == "cancelled") {
    r.status_state = "error";
    r.gitlab_state = "canceled";
  } else {  // neutral: GitHub's statuses have no neutral; success keeps merges unblocked
    r.status_state = "success";
    r.gitlab_state = "success";
  }
  return r;
}

RunReport Pending(RunReport r, RunReport::Status status, std::string title) {
  r.status = status;
  r.title = std::move(title);
  r.status_state = "pending";
  r.gitlab_state = status == RunReport::Status::kQueued ? "pending" : "running";
  return r;
}

// Why a run failed, from its first failed job's message: a broken limit, a build error, a suite
// file's error naming its line; bounded (the title is also the commit status's description).
std::string FailureTitle(const v1::Run& run) {
  for (const v1::Job& j : run.jobs()) {
    if (j.state() == v1::JOB_STATE_FAILED && !j.message().empty())
      return CutUtf8(absl::StrCat("job ", j.name(), " failed: ", j.message()), 400);
  }
  return "the run failed (see its log)";
}

bool LimitBroken(const v1::Comparison& c) {
  for (const auto& l : c.limits())
    if (l.level() == "critical") return true;
  return false;
}

RunReport Decide(const ReportInput& in) {
  const v1::Run& run = in.run;
  RunReport r;
  switch (run.state()) {
    case v1::RUN_STATE_QUEUED:
      return Pending(r, RunReport::Status::kQueued, "queued");
    case v1::RUN_STATE_RUNNING:
      return Pending(r, RunReport::Status::kInProgress, "running");
    case v1::RUN_STATE_CANCELLED:
      return Completed(
          r, "cancelled",
          in.superseded_by ? absl::StrCat("superseded by run ", in.superseded_by) : "cancelled");
    case v1::RUN_STATE_FAILED:
      return Completed(r, "failure", FailureTitle(run));
    default:
      break;
  }
  if (!run.analysed()) return Pending(r, RunReport::Status::kInProgress, "analysing");
  if (run.confirmed_by_run_id() != 0 && !(in.confirmation && in.confirmation->analysed())) {
    return Pending(r, RunReport::Status::kInProgress,
                   absl::StrCat("inconclusive: confirming (run ", run.confirmed_by_run_id(), ")"));
  }
  if (run.kind() == v1::RUN_KIND_BASELINE && !run.aa())
    return Completed(r, "success", "baseline recorded");
  if (!in.comparison || in.comparison->verdict() == v1::VERDICT_UNSPECIFIED) {
    const std::string why = in.comparison && !in.comparison->note().empty()
                                ? in.comparison->note()
                                : "no baseline to compare with yet";
    return Completed(r, "neutral", "no verdict: " + why);
  }
  const v1::Comparison& c = *in.comparison;
  if (LimitBroken(c)) return Completed(r, "failure", "a limit is broken: " + c.summary());
  switch (c.verdict()) {
    case v1::VERDICT_REGRESSION:
      return Completed(r, "failure", c.summary());
    case v1::VERDICT_INCONCLUSIVE:
      return Completed(r, "neutral", c.summary());
    default:
      return Completed(r, "success", c.summary());
  }
}

RunReport DecideCampaign(const v1::CampaignReport& rep) {
  const v1::Campaign& c = rep.campaign();
  RunReport r;
  int ended = 0;
  for (const v1::CampaignTier& t : c.tiers())
    ended += t.state() != v1::RUN_STATE_QUEUED && t.state() != v1::RUN_STATE_RUNNING;
  if (c.state() == v1::RUN_STATE_QUEUED) return Pending(r, RunReport::Status::kQueued, "queued");
  if (c.state() == v1::RUN_STATE_RUNNING) {
    return Pending(r, RunReport::Status::kInProgress,
                   absl::StrCat("running: ", ended, " of ", c.tiers_size(), " tiers ended"));
  }
  if (rep.outcome() == "pending") return Pending(r, RunReport::Status::kInProgress, "analysing");
  const std::string why = rep.reasons().empty() ? "" : rep.reasons(0);
  const std::string more =
      rep.reasons_size() > 1 ? absl::StrCat(" (and ", rep.reasons_size() - 1, " more)") : "";
  if (c.state() == v1::RUN_STATE_CANCELLED && rep.outcome() != "fail")
    return Completed(r, "cancelled", "campaign cancelled");
  if (rep.outcome() == "fail") return Completed(r, "failure", "fail: " + why + more);
  if (rep.outcome() == "warn") return Completed(r, "neutral", "warn: " + why + more);
  return Completed(r, "success",
                   c.kind() == v1::RUN_KIND_BASELINE
                       ? "pass: baseline campaign recorded"
                       : "pass: every level Target or Acceptable, no regression");
}

// A campaign tier's report: its campaign's.
RunReport ReportCampaign(const ReportInput& in) {
  const v1::CampaignReport& rep = *in.campaign;
  const v1::Campaign& c = rep.campaign();
  RunReport r = DecideCampaign(rep);
  r.title = CutUtf8(r.title, 1000);
  std::string body = absl::StrCat("perfgate campaign [", c.id(), "](", in.campaign_url, ") of `",
                                  c.suite_name(), "` at `", Short(c.commit()), "` (",
                                  c.tiers_size(), " tiers): **", r.title, "**\n\n");
  if (r.status == RunReport::Status::kCompleted)
    absl::StrAppend(&body, RenderCampaignMarkdown(rep, in.campaign_url));
  r.summary = CutMarkdown(std::move(body), kGitHubSummaryLimit, in.campaign_url);
  r.description =
      CutUtf8(absl::StrCat("campaign ", c.id(), ": ", r.title), kStatusDescriptionLimit);
  return r;
}

const char* Icon(const RunReport& r) {
  return r.status != RunReport::Status::kCompleted ? "⏳"
         : r.conclusion == "success"               ? "✅"
         : r.conclusion == "failure"               ? "❌"
         : r.conclusion == "cancelled"             ? "⏹️"
                                                   : "⚪";
}

}  // namespace

const char* StatusName(RunReport::Status s) {
  switch (s) {
    case RunReport::Status::kQueued:
      return "queued";
    case RunReport::Status::kInProgress:
      return "in_progress";
    case RunReport::Status::kCompleted:
      break;
  }
  return "completed";
}

std::string CutMarkdown(std::string text, size_t limit, const std::string& url) {
  if (text.size() <= limit) return text;
  const std::string tail = absl::StrCat("\n\n… cut to fit; the whole report: ", url, "\n");
  text = CutUtf8(std::move(text), limit > tail.size() ? limit - tail.size() : 0);
  return text + tail;
}

RunReport ReportRun(const ReportInput& in) {
  if (in.campaign) {
    RunReport r = ReportCampaign(in);
    r.verdict_line =
        absl::StrCat("| `", in.run.suite_name(), "` | ", Icon(r), " ", r.title, " | [campaign ",
                     in.campaign->campaign().id(), "](", in.campaign_url, ") |");
    return r;
  }
  RunReport r = Decide(in);
  r.title = CutUtf8(r.title, 1000);
  const std::string head =
      absl::StrCat("perfgate run [", in.run.id(), "](", in.run_url, ") of `", in.run.suite_name(),
                   "` at `", Short(in.run.commit()), "`: **", r.title, "**\n\n");
  std::string body = head;
  if (r.status == RunReport::Status::kCompleted && in.comparison &&
      in.comparison->verdict() != v1::VERDICT_UNSPECIFIED) {
    absl::StrAppend(&body, RenderMarkdown(*in.comparison, in.compare_url));
  }
  r.summary = CutMarkdown(std::move(body), kGitHubSummaryLimit, in.compare_url);
  r.description =
      CutUtf8(absl::StrCat("run ", in.run.id(), ": ", r.title), kStatusDescriptionLimit);
  r.verdict_line = absl::StrCat("| `", in.run.suite_name(), "` | ", Icon(r), " ", r.title,
                                " | [run ", in.run.id(), "](", in.run_url, ") |");
  return r;
}

bool AnyChange(const std::vector<ReportInput>& runs) {
  for (const auto& in : runs) {
    RunReport r = ReportRun(in);
    if (in.campaign) {
      if (r.status != RunReport::Status::kCompleted) continue;
      for (const v1::CampaignRow& row : in.campaign->rows())
        for (const v1::CampaignCell& cell : row.cells())
          if (cell.verdict() == v1::VERDICT_REGRESSION || cell.verdict() == v1::VERDICT_IMPROVEMENT)
            return true;
      if (in.campaign->outcome() == "fail") return true;
      continue;
    }
    if (r.status != RunReport::Status::kCompleted || !in.comparison) continue;
    if (in.comparison->regressions() > 0 || in.comparison->improvements() > 0 ||
        LimitBroken(*in.comparison))
      return true;
  }
  return false;
}

std::string PrCommentBody(const std::vector<ReportInput>& runs, const std::string& head_sha) {
  std::string table = absl::StrCat(kPrCommentMarker, "\n### perfgate at `", Short(head_sha),
                                   "`\n\n| suite | result | run |\n| --- | --- | --- |\n");
  std::string details;
  for (const ReportInput& in : runs) {
    RunReport r = ReportRun(in);
    absl::StrAppend(&table, r.verdict_line, "\n");
    if (in.campaign) {
      if (r.status == RunReport::Status::kCompleted)
        absl::StrAppend(&details, "\n<details><summary><code>", in.run.suite_name(),
                        "</code> (campaign)</summary>\n\n",
                        RenderCampaignMarkdown(*in.campaign, in.campaign_url), "\n</details>\n");
      continue;
    }
    if (r.status == RunReport::Status::kCompleted && in.comparison &&
        in.comparison->verdict() != v1::VERDICT_UNSPECIFIED) {
      absl::StrAppend(&details, "\n<details><summary><code>", in.run.suite_name(),
                      "</code></summary>\n\n", RenderMarkdown(*in.comparison, in.compare_url),
                      "\n</details>\n");
    }
  }
  absl::StrAppend(&table, "\n_This comment is edited in place as results arrive._\n");
  const std::string link = runs.empty() ? "" : runs.front().compare_url;
  return CutMarkdown(table + details, kGitHubCommentLimit - 1, link);
}

}  // namespace perfgate::controller
