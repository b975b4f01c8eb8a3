#include "controller/forge/planner.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/spec/suite_parser.h"
#include "controller/forge/commands.h"

namespace perfgate::controller {
namespace {

bool Contains(const auto& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// A suite kept in the repository: one suite_file job, which reads it at the run's commit and
// adds its jobs to the run. The run is named after the project's suite entry.
absl::StatusOr<v1::RunSpec> SuiteFileSpec(const v1::Project& p, const v1::ProjectSuite& s,
                                          const std::string& event_clone_url) {
  const std::string& url = p.clone_url().empty() ? event_clone_url : p.clone_url();
  if (url.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("project ", p.name(), " suite ", s.name(),
                                                   ": the webhook names no clone URL for ",
                                                   s.path(), "; set the project's clone_url"));
  }
  v1::RunSpec spec;
  spec.set_suite_name(s.name());
  v1::JobSpec* job = spec.add_jobs();
  job->set_name("suite-file");
  job->mutable_suite_file()->set_repository(url);
  job->mutable_suite_file()->set_path(s.path());
  return spec;
}

// A registered suite as parsed: a run's spec, or (a suite with tiers) a campaign of its tiers.
struct SuiteParse {
  v1::RunSpec run;
  std::optional<v1::Campaign> campaign;
};

// A registered suite parsed once per text, not once per delivery: yaml-cpp's parse and the rules
// cost more than the rest of a webhook's planning. Bounded; a changed suite is a new text.
absl::StatusOr<SuiteParse> ParsedSuite(const std::string& name, const std::string& yaml) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<std::pair<std::string, std::string>, SuiteParse>();
  constexpr size_t kMaxCached = 64;
  {
    absl::MutexLock lock(&mu);
    if (auto it = cache->find({name, yaml}); it != cache->end()) return it->second;
  }
  SuiteParse parsed;
  auto tiers = common::SuiteTierNames(name, yaml);
  if (!tiers.ok()) return tiers.status();
  if (tiers->empty()) {
    auto spec = common::ParseSuite(name, yaml);
    if (!spec.ok()) return spec.status();
    parsed.run = *std::move(spec);
  } else {
    auto camp = common::ParseSuiteCampaign(name, yaml, {}, {});
    if (!camp.ok()) return camp.status();
    parsed.campaign = *std::move(camp);
  }
  absl::MutexLock lock(&mu);
  if (cache->size() >= kMaxCached) cache->clear();
  cache->emplace(std::pair{name, yaml}, parsed);
  return parsed;
}

// What a delivery submits: a run per suite, a campaign per registered suite with tiers.
struct Planned {
  std::vector<v1::RunSpec> runs;
  std::vector<v1::Campaign> campaigns;
  size_t size() const { return runs.size() + campaigns.size(); }
};

// "2 candidate run(s)" or "1 candidate run(s) and 1 campaign(s)".
std::string Count(const Planned& p, const std::string& kind) {
  return absl::StrCat(
      p.runs.size(), " ", kind, " run(s)",
      p.campaigns.empty() ? "" : absl::StrCat(" and ", p.campaigns.size(), " campaign(s)"));
}

void Take(Planned planned, ForgePlan* plan) {
  plan->runs = std::move(planned.runs);
  plan->campaigns = std::move(planned.campaigns);
}

// The project's suites for one commit, or only those named: a registered suite with tiers
// becomes a campaign of every tier (suite files in the repository are read by the run at its
// commit, so they are runs).
absl::StatusOr<Planned> SpecsFor(const v1::Project& p, const std::string& clone_url,
                                 const std::vector<std::string>& only,
                                 const common::SpecLimits& limits, const auto& shape) {
  Planned out;
  for (const v1::ProjectSuite& s : p.suites()) {
    if (!only.empty() && !Contains(only, s.name())) continue;
    const std::string label = absl::StrCat("project ", p.name(), " suite ", s.name());
    std::optional<SuiteParse> parsed;
    if (s.path().empty()) {
      auto got = ParsedSuite(label, s.yaml());
      if (!got.ok()) return got.status();
      parsed = *std::move(got);
    }
    if (parsed && parsed->campaign) {
      v1::Campaign camp = *parsed->campaign;
      for (v1::CampaignTier& t : *camp.mutable_tiers()) {
        v1::RunSpec& spec = *t.mutable_spec();
        spec.set_project(p.name());
        spec.set_suite_name(s.name());
        shape(spec);
        if (auto st = common::ValidateAndDefaultRunSpec(&spec, limits); !st.ok()) return st;
      }
      const v1::RunSpec& first = camp.tiers(0).spec();
      camp.set_project(p.name());
      camp.set_suite_name(s.name());
      camp.set_branch(first.branch());
      camp.set_commit(first.commit());
      camp.set_kind(first.kind());
      out.campaigns.push_back(std::move(camp));
      continue;
    }
    auto spec = parsed ? absl::StatusOr<v1::RunSpec>(parsed->run) : SuiteFileSpec(p, s, clone_url);
    if (!spec.ok()) return spec.status();
    spec->set_project(p.name());
    shape(*spec);
    if (auto st = common::ValidateAndDefaultRunSpec(&*spec, limits); !st.ok()) return st;
    out.runs.push_back(*std::move(spec));
  }
  return out;
}

std::vector<std::string> SuiteNames(const v1::Project& p) {
  std::vector<std::string> out;
  for (const auto& s : p.suites()) out.push_back(s.name());
  return out;
}

PullRequestRecord RecordOf(const ForgeEvent& e) {
  PullRequestRecord r;
  r.number = e.pr_number;
  r.head_sha = e.head_sha;
  r.head_branch = e.head_branch;
  r.base_branch = e.base_branch;
  r.from_fork = e.from_fork;
  r.open = e.action != "closed";
  r.labels = e.labels;
  return r;
}

// Candidate runs of `suites` at the pull request's head, compared with its base branch.
absl::StatusOr<Planned> CandidateSpecs(const v1::Project& p, const std::string& clone_url,
                                       const PullRequestRecord& pr,
                                       const std::vector<std::string>& suites, int repetitions,
                                       const common::SpecLimits& limits) {
  return SpecsFor(p, clone_url, suites, limits, [&](v1::RunSpec& s) {
    s.set_kind(v1::RUN_KIND_CANDIDATE);
    s.set_branch(pr.head_branch);
    s.set_commit(pr.head_sha);
    s.set_baseline_branch(pr.base_branch);
    if (repetitions > 0) {
      for (auto& j : *s.mutable_jobs()) {
        if (j.has_benchmark())
          j.mutable_benchmark()->mutable_workload()->set_repetitions(repetitions);
        if (j.has_suite_file()) j.mutable_suite_file()->set_repetitions(repetitions);
      }
    }
  });
}

absl::StatusOr<ForgePlan> PlanPush(const v1::Project& p, const ForgeEvent& e,
                                   const common::SpecLimits& limits) {
  ForgePlan plan;
  plan.trigger = "push";
  if (!HasTrigger(p, "push")) {
    plan.outcome = "ignored: the project does not run on pushes";
    return plan;
  }
  const auto branches = BaselineBranches(p, e);
  if (!Contains(branches, e.branch)) {
    plan.outcome = absl::StrCat("ignored: ", e.branch, " is not a baseline branch (",
                                absl::StrJoin(branches, ", "), ")");
    return plan;
  }
  auto specs = SpecsFor(p, e.clone_url, {}, limits, [&](v1::RunSpec& s) {
    s.set_kind(v1::RUN_KIND_BASELINE);
    s.set_branch(e.branch);
    s.set_commit(e.after_sha);
  });
  if (!specs.ok()) return specs.status();
  plan.outcome =
      absl::StrCat(Count(*specs, "baseline"), " of ", e.branch, " at ", e.after_sha.substr(0, 12));
  Take(*std::move(specs), &plan);
  return plan;
}

absl::StatusOr<ForgePlan> PlanPullRequest(const v1::Project& p, const ForgeEvent& e,
                                          const common::SpecLimits& limits) {
  ForgePlan plan;
  plan.trigger = "pull_request";
  plan.pr = RecordOf(e);
  if (e.action == "closed") {
    plan.cancel_open_runs = true;
    plan.outcome =
        absl::StrCat("pull request #", e.pr_number, " closed: its unfinished runs cancelled");
    return plan;
  }
  if (!HasTrigger(p, "pull_request")) {
    plan.outcome = "recorded: the project does not run on pull requests (comment commands may)";
    return plan;
  }
  const bool admitted_by_label = !p.fork_label().empty() && Contains(e.labels, p.fork_label());
  if (e.from_fork && !admitted_by_label) {
    plan.outcome = absl::StrCat("held: pull request #", e.pr_number,
                                " comes from a fork; it runs after a trusted `/perfgate run`");
    if (e.action == "opened" || e.action == "reopened") {
      plan.reply = absl::StrCat(
          "This pull request comes from a fork, so perfgate does not benchmark it by itself: "
          "its code would run on the lab's machines. A maintainer can start it with "
          "`/perfgate run`",
          p.fork_label().empty() ? "" : absl::StrCat(" or the label `", p.fork_label(), "`"), ".");
    }
    return plan;
  }
  if (e.action == "labeled" && !admitted_by_label) {
    plan.outcome = "recorded: labels changed";
    return plan;
  }
  auto specs = CandidateSpecs(p, e.clone_url, *plan.pr, {}, 0, limits);
  if (!specs.ok()) return specs.status();
  plan.supersede = true;
  plan.skip_existing_head_runs = true;
  plan.outcome = absl::StrCat(Count(*specs, "candidate"), " of #", e.pr_number, " at ",
                              e.head_sha.substr(0, 12), " against ", e.base_branch);
  Take(*std::move(specs), &plan);
  return plan;
}

ForgePlan Refuse(ForgePlan plan, const std::string& why) {
  plan.outcome = "refused: " + why;
  plan.reply = "perfgate: " + why;
  return plan;
}

absl::StatusOr<ForgePlan> PlanComment(const v1::Project& p, const ForgeEvent& e,
                                      const std::optional<PullRequestRecord>& known,
                                      const common::SpecLimits& limits) {
  ForgePlan plan;
  plan.trigger = "comment";
  if (e.commenter_is_bot) {
    plan.outcome = "ignored: a bot's comment";
    return plan;
  }
  auto cmd = ParseForgeCommand(e.comment_body);
  if (cmd.ok() && !cmd->has_value()) {
    plan.outcome = "ignored: no /perfgate command";
    return plan;
  }
  if (!HasTrigger(p, "comment")) return Refuse(plan, "this project does not take comment commands");
  if (!IsTrustedCommenter(p, e)) {
    return Refuse(plan, absl::StrCat("@", e.commenter, " may not command perfgate here (",
                                     e.author_association.empty()
                                         ? "not on the project's trusted list"
                                         : "author association " + e.author_association,
                                     "); ask a maintainer"));
  }
  if (!cmd.ok()) {
    plan = Refuse(plan, std::string(cmd.status().message()));
    plan.reply += "\n\n" + ForgeCommandHelp();
    return plan;
  }
  const ForgeCommand& c = **cmd;
  if (c.verb == ForgeCommand::Verb::kHelp) {
    plan.outcome = "answered: help";
    plan.reply = ForgeCommandHelp();
    return plan;
  }
  std::optional<PullRequestRecord> pr = known;
  if (e.has_pr_details) pr = RecordOf(e);  // GitLab's notes carry the merge request's head
  if (!pr) {
    return Refuse(plan, absl::StrCat("perfgate has not seen pull request #", e.pr_number,
                                     "'s head yet (no pull_request webhook); push a commit or "
                                     "reopen it"));
  }
  if (!pr->open) return Refuse(plan, absl::StrCat("pull request #", e.pr_number, " is closed"));
  plan.pr = pr;
  if (c.verb == ForgeCommand::Verb::kRerun) {
    plan.rerun_latest = true;
    plan.supersede = true;
    plan.outcome = absl::StrCat("rerun of #", e.pr_number, "'s latest runs by @", e.commenter);
    plan.reply = absl::StrCat("Rerun requested by @", e.commenter, ".");
    plan.reply_lists_runs = true;
    return plan;
  }
  if (c.verb == ForgeCommand::Verb::kAa) {
    auto specs = SpecsFor(p, e.clone_url, {}, limits, [&](v1::RunSpec& s) {
      s.set_kind(v1::RUN_KIND_EXPERIMENT);
      s.set_branch(pr->base_branch);
      s.set_aa(true);
    });
    if (!specs.ok()) return specs.status();
    plan.outcome =
        absl::StrCat(Count(*specs, "A/A"), " on ", pr->base_branch, " by @", e.commenter);
    Take(*std::move(specs), &plan);
    plan.reply = absl::StrCat("A/A experiment on `", pr->base_branch, "` requested by @",
                              e.commenter, " (the baseline's code measured again: the noise).");
    plan.reply_lists_runs = true;
    return plan;
  }
  for (const std::string& s : c.suites) {
    if (!Contains(SuiteNames(p), s)) {
      return Refuse(plan, absl::StrCat("no suite `", s, "` in project ", p.name(),
                                       " (suites: ", absl::StrJoin(SuiteNames(p), ", "), ")"));
    }
  }
  auto specs = CandidateSpecs(p, e.clone_url, *pr, c.suites, c.repetitions, limits);
  if (!specs.ok()) return specs.status();
  plan.supersede = true;
  plan.outcome = absl::StrCat(Count(*specs, "candidate"), " of #", e.pr_number, " at ",
                              pr->head_sha.substr(0, 12), " by @", e.commenter);
  Take(*std::move(specs), &plan);
  plan.reply = absl::StrCat(
      "Benchmarking ", pr->head_sha.substr(0, 12), " as requested by @", e.commenter,
      c.repetitions > 0 ? absl::StrCat(" (", c.repetitions, " repetitions)") : "", ".");
  plan.reply_lists_runs = true;
  return plan;
}

}  // namespace

bool HasTrigger(const v1::Project& p, const std::string& trigger) {
  return p.triggers().empty() || Contains(p.triggers(), trigger);
}

bool IsTrustedCommenter(const v1::Project& p, const ForgeEvent& e) {
  static const std::vector<std::string> kTrusted = {"OWNER", "MEMBER", "COLLABORATOR"};
  return Contains(kTrusted, e.author_association) || Contains(p.trusted_users(), e.commenter);
}

std::vector<std::string> BaselineBranches(const v1::Project& p, const ForgeEvent& e) {
  if (!p.baseline_branches().empty())
    return {p.baseline_branches().begin(), p.baseline_branches().end()};
  if (!e.default_branch.empty()) return {e.default_branch};
  return {"main"};
}

ForgePlan PlanWithoutProject(const ForgeEvent& e) {
  ForgePlan plan;
  plan.outcome =
      e.kind == ForgeEvent::Kind::kPing ? "pong"
      : e.kind == ForgeEvent::Kind::kIgnored
          ? "ignored: " + e.ignored_why
          : absl::StrCat("ignored: no project for ", e.forge, " repository ", e.repository);
  return plan;
}

absl::StatusOr<ForgePlan> PlanForgeEvent(const v1::Project& p, const ForgeEvent& e,
                                         const std::optional<PullRequestRecord>& known,
                                         const common::SpecLimits& limits) {
  switch (e.kind) {
    case ForgeEvent::Kind::kPush:
      return PlanPush(p, e, limits);
    case ForgeEvent::Kind::kPullRequest:
      return PlanPullRequest(p, e, limits);
    case ForgeEvent::Kind::kComment:
      return PlanComment(p, e, known, limits);
    case ForgeEvent::Kind::kPing:
    case ForgeEvent::Kind::kIgnored:
      break;
  }
  ForgePlan plan;
  plan.outcome = e.kind == ForgeEvent::Kind::kPing ? "pong" : "ignored: " + e.ignored_why;
  return plan;
}

}  // namespace perfgate::controller
