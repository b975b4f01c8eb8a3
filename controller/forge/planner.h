// What a webhook asks of perfgate, decided from the project, the event and what perfgate knows
// of the pull request: runs to submit, older runs to supersede, a reply to a command. Pure (the
// forge store applies the plan in one transaction; the webhook handler formats the replies).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/spec/run_spec_rules.h"
#include "controller/forge/forge_event.h"
#include "perfgate/v1/campaign.pb.h"
#include "perfgate/v1/forge.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// What perfgate keeps of a pull (merge) request, from its webhooks.
struct PullRequestRecord {
  int number = 0;
  std::string head_sha, head_branch, base_branch;
  bool from_fork = false;
  bool open = true;
  std::vector<std::string> labels;
};

struct ForgePlan {
  std::string outcome;  // recorded with the delivery and logged: what was done, or why not
  std::string trigger;  // push, pull_request, comment
  std::vector<v1::RunSpec> runs;  // validated, defaults filled
  // A registered suite with tiers: a campaign of all its tiers (docs/campaigns.md), each tier's
  // spec validated; reported as one check run whose conclusion is the campaign's outcome.
  std::vector<v1::Campaign> campaigns;
  // Skip a suite whose run at this PR head already exists (a pull_request event seen twice
  // under different deliveries, or a label added after the head ran).
  bool skip_existing_head_runs = false;
  bool supersede = false;               // cancel the PR's unfinished older runs of the same suites
  bool cancel_open_runs = false;        // the PR was closed
  bool rerun_latest = false;            // /perfgate rerun: the PR's latest runs' specs again
  std::optional<PullRequestRecord> pr;  // to store
  // A comment answering a command ("" none). When runs are submitted, the handler appends the
  // links to them.
  std::string reply;
  bool reply_lists_runs = false;
};

// The project's trusted-commenter rule: the repository's OWNER, MEMBER or COLLABORATOR, or a
// user on the project's allow-list.
bool IsTrustedCommenter(const v1::Project& p, const ForgeEvent& e);
// The branches whose pushes make baselines: the project's, else the repository's default.
std::vector<std::string> BaselineBranches(const v1::Project& p, const ForgeEvent& e);
bool HasTrigger(const v1::Project& p, const std::string& trigger);

// An event for a repository no project has: a ping is answered, the rest ignored.
ForgePlan PlanWithoutProject(const ForgeEvent& e);

// INVALID_ARGUMENT when a registered suite no longer parses or a spec breaks `limits` (the
// delivery is then refused with the reason).
absl::StatusOr<ForgePlan> PlanForgeEvent(const v1::Project& p, const ForgeEvent& e,
                                         const std::optional<PullRequestRecord>& known,
                                         const common::SpecLimits& limits);

}  // namespace perfgate::controller
