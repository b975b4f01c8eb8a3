// `perfgate campaign …`: submit a suite's scale tiers as one campaign (a run per tier), follow
// it, cancel it, and read its tier x metric report (docs/campaigns.md).
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json/proto_json.h"
#include "common/spec/suite_parser.h"
#include "google/protobuf/util/json_util.h"
#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

void RenderCampaign(std::ostream& o, const v1::Campaign& c) {
  o << "campaign " << c.id() << "  " << c.suite_name() << "  "
    << EnumLower(v1::RunState_Name(c.state()), "RUN_STATE_") << "  "
    << EnumLower(v1::RunKind_Name(c.kind()), "RUN_KIND_") << "  " << c.branch() << " @ "
    << c.commit().substr(0, 12) << "\n";
  for (const v1::CampaignTier& t : c.tiers()) {
    std::vector<std::string> params;
    for (const auto& [k, v] :
         std::map<std::string, std::string>(t.params().begin(), t.params().end()))
      params.push_back(k + "=" + v);
    o << "  " << t.name() << "  run " << t.run_id() << "  "
      << EnumLower(v1::RunState_Name(t.state()), "RUN_STATE_");
    if (t.hosts() > 0) o << "  " << t.hosts() << " hosts";
    if (!params.empty()) o << "  " << absl::StrJoin(params, " ");
    if (!t.verdict().empty()) o << "  verdict " << t.verdict();
    o << "\n";
  }
}

struct SubmitFlags {
  std::string suite, tiers, commit, branch, project, kind = "experiment", baseline_branch,
                                                     request_id;
  std::vector<std::string> params;
  bool wait = false, wait_for_capacity = false;
  std::string timeout = "6h";
};

bool Ended(const v1::Campaign& c) {
  if (c.state() != v1::RUN_STATE_SUCCEEDED && c.state() != v1::RUN_STATE_FAILED &&
      c.state() != v1::RUN_STATE_CANCELLED)
    return false;
  // A candidate's verdicts come once the analyser has compared each tier.
  for (const v1::CampaignTier& t : c.tiers())
    if (c.kind() == v1::RUN_KIND_CANDIDATE && t.state() == v1::RUN_STATE_SUCCEEDED && !t.analysed())
      return false;
  return true;
}

// Follows a campaign (polling) until it ended, printing each tier's changes to stderr; then
// prints the report. Exit: 0 pass or warn, 5 fail, 3 cancelled, 4 controller gone or timeout.
int WatchCampaign(Client& c, int64_t id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::map<std::string, std::string> seen;
  int unreachable = 0;
  while (true) {
    v1::GetCampaignRequest req;
    req.set_id(id);
    v1::Campaign camp;
    auto ctx = c.Ctx();
    if (grpc::Status s = c.stub().GetCampaign(ctx.get(), req, &camp); !s.ok()) {
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE || ++unreachable > 60) return Fail(s);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    unreachable = 0;
    for (const v1::CampaignTier& t : camp.tiers()) {
      std::string now = EnumLower(v1::RunState_Name(t.state()), "RUN_STATE_");
      if (!t.verdict().empty()) now += " (" + t.verdict() + ")";
      if (seen[t.name()] != now) {
        std::cerr << "campaign " << id << ": tier " << t.name() << " (run " << t.run_id()
                  << "): " << now << "\n";
        seen[t.name()] = now;
      }
    }
    if (Ended(camp)) {
      // The outcome from the report's JSON form; the text form printed unless -o json.
      std::string json, text;
      for (const char* format : {"json", "text"}) {
        if (c.json() && std::string(format) == "text") break;
        v1::GetCampaignReportRequest rreq;
        rreq.set_id(id);
        rreq.set_format(format);
        v1::Report report;
        auto rctx = c.Ctx();
        if (grpc::Status s = c.stub().GetCampaignReport(rctx.get(), rreq, &report); !s.ok())
          return Fail(s);
        (std::string(format) == "json" ? json : text) = report.body();
      }
      v1::CampaignReport parsed;
      if (!google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) {
        std::cerr << "perfgate: the controller's report is not a campaign report\n";
        return 2;
      }
      std::cout << (c.json() ? json : text);
      if (camp.state() == v1::RUN_STATE_CANCELLED) return 3;
      return parsed.outcome() == "fail" ? 5 : 0;
    }
    if (absl::Now() > deadline) {
      std::cerr << "perfgate: campaign " << id << " did not end within the timeout\n";
      return 4;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

int Submit(Client& c, const SubmitFlags& f) {
  absl::Duration timeout;
  if (!absl::ParseDuration(f.timeout, &timeout) || timeout <= absl::ZeroDuration())
    return Usage("--timeout: want a duration like 6h, got '" + f.timeout + "'");
  v1::SubmitCampaignRequest req;
  req.set_wait_for_capacity(f.wait_for_capacity);
  v1::Campaign* camp = req.mutable_campaign();
  if (int rc = CampaignFromSuite(f.suite, f.tiers, f.params, f.baseline_branch, camp); rc != 0)
    return rc;
  if (!f.project.empty()) camp->set_project(f.project);
  camp->set_commit(f.commit);
  camp->set_branch(f.branch);
  v1::RunKind k = v1::RUN_KIND_EXPERIMENT;
  ParseEnumFlag(f.kind, "RUN_KIND_", &v1::RunKind_Parse, &k);
  camp->set_kind(k);
  // One id for this submission: a retry after a lost reply finds the campaign the first made.
  req.set_request_id(f.request_id.empty() ? NewRequestId() : f.request_id);
  v1::Campaign resp;
  grpc::Status s = CallWithRetries(
      "campaign submission " + req.request_id(),
      [&](grpc::ClientContext* ctx) { return c.stub().SubmitCampaign(ctx, req, &resp); }, c);
  if (!s.ok()) return Fail(s);
  if (resp.duplicate() && !c.json())
    std::cerr << "perfgate: request " << req.request_id() << " was submitted before: campaign "
              << resp.id() << "\n";
  if (!f.wait) return Show(c, resp, [&] { RenderCampaign(std::cout, resp); });
  std::cerr << "submitted campaign " << resp.id() << " (" << resp.tiers_size() << " tiers)\n";
  return WatchCampaign(c, resp.id(), timeout);
}

}  // namespace

int CampaignFromSuite(const std::string& suite, const std::string& tier_list,
                      const std::vector<std::string>& param_flags,
                      const std::string& baseline_branch, v1::Campaign* camp) {
  auto read = common::ReadSuiteText(suite);
  if (!read.ok()) return Usage("--suite: " + std::string(read.status().message()));
  const std::string text = *std::move(read);
  std::map<std::string, std::string> params;
  try {
    params = ParsePairs(param_flags, "--param");
  } catch (const CLI::ValidationError& e) {
    return Usage(e.what());
  }
  const std::vector<std::string> tiers = absl::StrSplit(tier_list, ',', absl::SkipEmpty());
  auto parsed = common::ParseSuiteCampaign(suite, text, tiers, params);
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  *camp = *std::move(parsed);
  for (v1::CampaignTier& t : *camp->mutable_tiers())
    t.mutable_spec()->set_baseline_branch(baseline_branch);
  return 0;
}

void AddCampaignCommands(CLI::App& app, Commands& cmds) {
  auto* campaign = app.add_subcommand(
      "campaign", "scale-tier campaigns: a suite's tiers run as one campaign, and its report");
  campaign->require_subcommand(1);

  auto f = std::make_shared<SubmitFlags>();
  auto* submit = campaign->add_subcommand(
      "submit", "queue one run per tier of a suite, grouped as a campaign");
  submit->add_option("--suite", f->suite, "suite file with tiers: (YAML or JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  submit->add_option("--tiers", f->tiers,
                     "comma-separated tiers to run (default: every tier of the suite, in its "
                     "order; with --param alone: one tier named custom)");
  submit->add_option("--param", f->params,
                     "NAME=VALUE overriding a suite parameter in every tier run (repeatable)");
  submit->add_option("--commit", f->commit, "commit of the system under test");
  submit->add_option("--branch", f->branch, "branch of the system under test");
  submit->add_option("--project", f->project, "project name (default: the suite's)");
  submit->add_option("--kind", f->kind, "baseline, candidate or experiment")
      ->check(CLI::IsMember({"baseline", "candidate", "experiment"}))
      ->capture_default_str();
  submit->add_option("--baseline-branch", f->baseline_branch,
                     "candidates: compare each tier with this branch's baseline campaigns' same "
                     "tier (default: --branch)");
  submit->add_flag("--wait", f->wait,
                   "follow it until every tier ended (and, for a candidate, was compared), then "
                   "print the report; exit 0 pass or warn, 5 fail, 3 cancelled");
  submit->add_flag("--wait-for-capacity", f->wait_for_capacity,
                   "queue a tier no known agent can host yet instead of refusing it");
  submit->add_option("--timeout", f->timeout, "with --wait: give up after this long")
      ->capture_default_str();
  submit->add_option("--request-id", f->request_id,
                     "name this submission (e.g. the CI job's id): submitting again with the same "
                     "id answers with the first campaign instead of making another (default: one "
                     "id per invocation, kept across its retries)");
  cmds.Add(submit, [f](Client* c, const Globals&) { return Submit(*c, *f); });

  auto list_project = std::make_shared<std::string>();
  auto list_branch = std::make_shared<std::string>();
  auto list_limit = std::make_shared<int>(50);
  auto* list = campaign->add_subcommand("list", "campaigns, newest first");
  list->add_option("--project", *list_project, "only this project's");
  list->add_option("--branch", *list_branch, "only this branch's");
  list->add_option("--limit", *list_limit, "at most this many")->check(CLI::Range(1, 500));
  cmds.Add(list, [=](Client* c, const Globals&) {
    v1::ListCampaignsRequest req;
    req.set_project(*list_project);
    req.set_branch(*list_branch);
    req.set_limit(*list_limit);
    return CallAndShow<v1::ListCampaignsRequest, v1::ListCampaignsResponse>(
        *c, &v1::Controller::Stub::ListCampaigns, req, [](const v1::ListCampaignsResponse& r) {
          if (r.campaigns().empty()) std::cout << "no campaigns\n";
          for (const auto& camp : r.campaigns()) RenderCampaign(std::cout, camp);
        });
  });

  auto get_id = std::make_shared<int64_t>(0);
  auto* get = campaign->add_subcommand("get", "one campaign: its tiers, their runs and states");
  get->add_option("ID", *get_id, "campaign id")->required();
  cmds.Add(get, [=](Client* c, const Globals&) {
    v1::GetCampaignRequest req;
    req.set_id(*get_id);
    return CallAndShow<v1::GetCampaignRequest, v1::Campaign>(
        *c, &v1::Controller::Stub::GetCampaign, req,
        [](const v1::Campaign& r) { RenderCampaign(std::cout, r); });
  });

  auto watch_id = std::make_shared<int64_t>(0);
  auto watch_timeout = std::make_shared<std::string>("6h");
  auto* watch = campaign->add_subcommand(
      "watch", "follow a campaign until it ends, then print its report (exit as submit --wait)");
  watch->add_option("ID", *watch_id, "campaign id")->required();
  watch->add_option("--timeout", *watch_timeout, "give up after this long")->capture_default_str();
  cmds.Add(watch, [=](Client* c, const Globals&) {
    absl::Duration t;
    if (!absl::ParseDuration(*watch_timeout, &t) || t <= absl::ZeroDuration())
      return Usage("--timeout: want a duration like 6h");
    return WatchCampaign(*c, *watch_id, t);
  });

  auto cancel_id = std::make_shared<int64_t>(0);
  auto* cancel = campaign->add_subcommand("cancel", "cancel every tier's run");
  cancel->add_option("ID", *cancel_id, "campaign id")->required();
  cmds.Add(cancel, [=](Client* c, const Globals&) {
    v1::CancelCampaignRequest req;
    req.set_id(*cancel_id);
    return CallAndShow<v1::CancelCampaignRequest, v1::Campaign>(
        *c, &v1::Controller::Stub::CancelCampaign, req,
        [](const v1::Campaign& r) { RenderCampaign(std::cout, r); });
  });

  auto report_id = std::make_shared<int64_t>(0);
  auto report_format = std::make_shared<std::string>("text");
  auto* report = campaign->add_subcommand(
      "report", "the tier x metric table: values, levels, changes against the baseline, outcome");
  report->add_option("ID", *report_id, "campaign id")->required();
  report
      ->add_option("--format", *report_format,
                   "text, md (PR comment), json, or html (the page's URL)")
      ->check(CLI::IsMember({"text", "md", "json", "html"}))
      ->capture_default_str();
  cmds.Add(report, [=](Client* c, const Globals&) {
    v1::GetCampaignReportRequest req;
    req.set_id(*report_id);
    req.set_format(c->json() ? "json" : *report_format);
    v1::Report resp;
    auto ctx = c->Ctx();
    if (grpc::Status s = c->stub().GetCampaignReport(ctx.get(), req, &resp); !s.ok())
      return Fail(s);
    std::cout << resp.body();
    return 0;
  });
}

}  // namespace perfgate::cli
