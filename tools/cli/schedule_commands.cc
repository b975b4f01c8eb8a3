// `perfgate schedule …`: cron-driven campaigns and runs — nightly campaigns, periodic
// baselines (docs/campaigns.md, "Schedules").
#include <iostream>
#include <memory>

#include "absl/time/time.h"
#include "common/spec/suite_parser.h"
#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

std::string ToTheMinute(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

void RenderSchedule(std::ostream& o, const v1::Schedule& s) {
  const std::string kind = EnumLower(v1::RunKind_Name(s.kind()), "RUN_KIND_");
  o << "schedule " << s.id() << "  '" << s.cron() << "'  " << s.suite_name() << "  " << kind << "  "
    << s.branch() << (s.paused() ? "  PAUSED" : "") << "\n"
    << "  next " << (s.paused() ? "(paused)" : ToTheMinute(s.next_fire_at())) << "  last "
    << ToTheMinute(s.last_fired_at());
  if (s.last_campaign_id()) o << " -> campaign " << s.last_campaign_id();
  if (s.last_run_id()) o << " -> run " << s.last_run_id();
  o << "\n";
  if (!s.last_error().empty()) o << "  last error: " << s.last_error() << "\n";
}

struct AddFlags {
  std::string cron, campaign, suite, tiers, branch, project, kind = "baseline";
  std::vector<std::string> params;
};

int Add(Client& c, const AddFlags& f) {
  v1::AddScheduleRequest req;
  v1::Schedule* s = req.mutable_schedule();
  s->set_cron(f.cron);
  s->set_branch(f.branch);
  s->set_project(f.project);
  v1::RunKind k = v1::RUN_KIND_BASELINE;
  ParseEnumFlag(f.kind, "RUN_KIND_", &v1::RunKind_Parse, &k);
  s->set_kind(k);
  if (!f.campaign.empty()) {
    v1::Campaign* camp = s->mutable_campaign()->mutable_campaign();
    if (int rc = CampaignFromSuite(f.campaign, f.tiers, f.params, "", camp); rc != 0) return rc;
  } else {
    if (!f.tiers.empty() || !f.params.empty())
      return Usage("--tiers and --param go with --campaign");
    auto spec = common::LoadSuiteFile(f.suite);
    if (!spec.ok()) return Usage(std::string(spec.status().message()));
    *s->mutable_run() = *std::move(spec);
  }
  return CallAndShow<v1::AddScheduleRequest, v1::Schedule>(
      c, &v1::Controller::Stub::AddSchedule, req,
      [](const v1::Schedule& r) { RenderSchedule(std::cout, r); });
}

}  // namespace

void AddScheduleCommands(CLI::App& app, Commands& cmds) {
  auto* schedule = app.add_subcommand(
      "schedule", "cron-driven campaigns and runs: nightly campaigns, periodic baselines");
  schedule->require_subcommand(1);

  auto f = std::make_shared<AddFlags>();
  auto* add = schedule->add_subcommand(
      "add",
      "submit a suite's campaign (--campaign) or run (--suite) for a branch's head at every "
      "slot of a cron expression (UTC); each slot fires once, whatever the number of "
      "controllers, and slots missed while none ran fire once");
  add->add_option("--cron", f->cron,
                  "five fields, UTC: minute hour day-of-month month day-of-week "
                  "(e.g. '0 2 * * *', every night at 02:00)")
      ->required();
  auto* camp = add->add_option("--campaign", f->campaign, "a suite with tiers: run as a campaign")
                   ->check(CLI::ExistingFile);
  auto* suite =
      add->add_option("--suite", f->suite, "a suite run as one run")->check(CLI::ExistingFile);
  camp->excludes(suite);
  add->add_option("--tiers", f->tiers, "with --campaign: the tiers (default: all)");
  add->add_option("--param", f->params, "with --campaign: NAME=VALUE overrides (repeatable)");
  add->add_option("--branch", f->branch, "the branch whose head each fire measures")->required();
  add->add_option("--project", f->project, "project name (default: the suite's)");
  add->add_option("--kind", f->kind, "baseline or experiment")
      ->check(CLI::IsMember({"baseline", "experiment"}))
      ->capture_default_str();
  cmds.Add(add, [f](Client* c, const Globals&) {
    if (f->campaign.empty() && f->suite.empty())
      return Usage("schedule add needs --campaign or --suite");
    return Add(*c, *f);
  });

  auto* list = schedule->add_subcommand("list", "every schedule with its next fire time");
  cmds.Add(list, [](Client* c, const Globals&) {
    return CallAndShow<v1::ListSchedulesRequest, v1::ListSchedulesResponse>(
        *c, &v1::Controller::Stub::ListSchedules, v1::ListSchedulesRequest(),
        [](const v1::ListSchedulesResponse& r) {
          if (r.schedules().empty()) std::cout << "no schedules\n";
          for (const auto& s : r.schedules()) RenderSchedule(std::cout, s);
        });
  });

  for (const bool pause : {true, false}) {
    auto id = std::make_shared<int64_t>(0);
    auto* sub = schedule->add_subcommand(pause ? "pause" : "resume",
                                         pause ? "stop firing (until resume)"
                                               : "fire again, from the next slot (missed ones are "
                                                 "not made up)");
    sub->add_option("ID", *id, "schedule id")->required();
    cmds.Add(sub, [id, pause](Client* c, const Globals&) {
      v1::SetSchedulePausedRequest req;
      req.set_id(*id);
      req.set_paused(pause);
      return CallAndShow<v1::SetSchedulePausedRequest, v1::Schedule>(
          *c, &v1::Controller::Stub::SetSchedulePaused, req,
          [](const v1::Schedule& r) { RenderSchedule(std::cout, r); });
    });
  }

  auto remove_id = std::make_shared<int64_t>(0);
  auto* remove = schedule->add_subcommand("remove", "delete a schedule (its runs stay)");
  remove->add_option("ID", *remove_id, "schedule id")->required();
  cmds.Add(remove, [remove_id](Client* c, const Globals&) {
    v1::RemoveScheduleRequest req;
    req.set_id(*remove_id);
    return CallAndShow<v1::RemoveScheduleRequest, v1::Schedule>(
        *c, &v1::Controller::Stub::RemoveSchedule, req, [](const v1::Schedule& r) {
          std::cout << "removed ";
          RenderSchedule(std::cout, r);
        });
  });
}

}  // namespace perfgate::cli
