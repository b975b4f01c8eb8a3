// How a run looks on a forge: a GitHub check run's status, conclusion, title and Markdown
// summary, a commit status's state and 140-character description, GitLab's pipeline-status
// state, and the one pull request comment that sums up every suite. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/campaign.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// GitHub's limits: a check run's output.summary, an issue comment's body, a status description.
inline constexpr size_t kGitHubSummaryLimit = 65535;
inline constexpr size_t kGitHubCommentLimit = 65536;
inline constexpr size_t kStatusDescriptionLimit = 140;
// Finds perfgate's comment again among a pull request's comments.
inline constexpr char kPrCommentMarker[] = "<!-- perfgate:pr-comment -->";

// One run with what the report needs to know besides it.
struct ReportInput {
  v1::Run run;
  std::optional<v1::Run> confirmation;       // the confirmation run, if one was scheduled
  std::optional<v1::Comparison> comparison;  // the latest (the decision after confirmation)
  int64_t superseded_by = 0;
  std::string run_url, compare_url;
  // The run is a tier of a campaign: the report is the campaign's (its outcome the conclusion).
  std::optional<v1::CampaignReport> campaign;
  std::string campaign_url;
};

struct RunReport {
  enum class Status { kQueued, kInProgress, kCompleted };
  Status status = Status::kQueued;
  std::string conclusion;    // completed: success, failure, neutral, cancelled
  std::string title;         // one line
  std::string summary;       // Markdown, within kGitHubSummaryLimit
  std::string description;   // within kStatusDescriptionLimit
  std::string status_state;  // GitHub commit status: pending, success, failure, error
  std::string gitlab_state;  // GitLab commit status: pending, running, success, failed, canceled
  std::string verdict_line;  // a row of the PR comment's table (Markdown)
};

// A run's report; a campaign tier's is its campaign's: queued / in progress (running, or waiting
// for the tiers' analyses) until its outcome is known, then pass -> success, warn -> neutral,
// fail -> failure (cancelled when a tier was cancelled and nothing failed), titled with the
// first reason, with the campaign's Markdown report as the summary.
RunReport ReportRun(const ReportInput& in);
const char* StatusName(RunReport::Status s);  // queued, in_progress, completed

// The pull request comment over the latest run of each suite at the head: the marker, a table
// of suites, then each suite's report collapsed. Within kGitHubCommentLimit.
std::string PrCommentBody(const std::vector<ReportInput>& runs, const std::string& head_sha);
// Whether `runs` changed anything (a regression or an improvement): the on_change comment mode.
bool AnyChange(const std::vector<ReportInput>& runs);

// Cuts Markdown to `limit` bytes (on a UTF-8 boundary) with a last line linking to `url`.
std::string CutMarkdown(std::string text, size_t limit, const std::string& url);

}  // namespace perfgate::controller
