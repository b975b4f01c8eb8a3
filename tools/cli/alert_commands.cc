// `perfgate alert …` and `perfgate changepoint …`: what the analysis raised, and its triage.
#include <iostream>

#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

void AddAlerts(CLI::App& app, Commands& cmds) {
  auto* alert = app.add_subcommand("alert", "regression, improvement and change-point alerts");
  alert->require_subcommand(1);
  auto list_req = std::make_shared<v1::ListAlertsRequest>();
  auto* list = alert->add_subcommand("list", "alerts, newest first");
  list->add_option("--state", *list_req->mutable_state(), "firing, acknowledged or resolved");
  cmds.Add(list, [list_req](Client* c, const Globals&) {
    return CallAndShow<v1::ListAlertsRequest, v1::ListAlertsResponse>(
        *c, &v1::Controller::Stub::ListAlerts, *list_req,
        [](const v1::ListAlertsResponse& r) { RenderAlerts(std::cout, r); });
  });
  for (const char* state : {"acknowledged", "resolved"}) {
    auto req = std::make_shared<v1::UpdateAlertRequest>();
    req->set_state(state);
    auto* sub = std::string(state) == "resolved"
                    ? alert->add_subcommand("resolve", "resolve an alert (Alertmanager is told)")
                    : alert->add_subcommand("ack", "acknowledge an alert");
    sub->add_option_function<int64_t>(
           "ID", [req](int64_t v) { req->set_id(v); }, "alert id")
        ->required();
    sub->add_option("--note", *req->mutable_note(), "why");
    cmds.Add(sub, [req](Client* c, const Globals&) {
      return CallAndShow<v1::UpdateAlertRequest, v1::Alert>(*c, &v1::Controller::Stub::UpdateAlert,
                                                            *req, [](const v1::Alert& a) {
                                                              v1::ListAlertsResponse one;
                                                              *one.add_alerts() = a;
                                                              RenderAlerts(std::cout, one);
                                                            });
    });
  }
}

void AddChangePoints(CLI::App& app, Commands& cmds) {
  auto* cp = app.add_subcommand("changepoint", "change points found along baseline branches");
  cp->require_subcommand(1);
  auto list_req = std::make_shared<v1::ListChangePointsRequest>();
  auto* list = cp->add_subcommand("list", "change points, newest first");
  list->add_option("--state", *list_req->mutable_state(),
                   "open, acknowledged, fixed or false_positive");
  list->add_option("--suite", *list_req->mutable_suite_name(), "only this suite");
  cmds.Add(list, [list_req](Client* c, const Globals&) {
    return CallAndShow<v1::ListChangePointsRequest, v1::ListChangePointsResponse>(
        *c, &v1::Controller::Stub::ListChangePoints, *list_req,
        [](const v1::ListChangePointsResponse& r) {
          RenderChangePoints(std::cout, r.change_points());
        });
  });
  auto req = std::make_shared<v1::TriageChangePointRequest>();
  auto* triage = cp->add_subcommand("triage", "set a change point's state");
  triage
      ->add_option_function<int64_t>(
          "ID", [req](int64_t v) { req->set_id(v); }, "change point id")
      ->required();
  triage->add_option("STATE", *req->mutable_state(), "open, acknowledged, fixed or false_positive")
      ->required()
      ->check(CLI::IsMember({"open", "acknowledged", "fixed", "false_positive"}));
  triage->add_option("--note", *req->mutable_note(), "why");
  cmds.Add(triage, [req](Client* c, const Globals&) {
    return CallAndShow<v1::TriageChangePointRequest, v1::ChangePointRecord>(
        *c, &v1::Controller::Stub::TriageChangePoint, *req, [](const v1::ChangePointRecord& r) {
          google::protobuf::RepeatedPtrField<v1::ChangePointRecord> one;
          *one.Add() = r;
          RenderChangePoints(std::cout, one);
        });
  });
}

}  // namespace

void AddAlertCommands(CLI::App& app, Commands& cmds) {
  AddAlerts(app, cmds);
  AddChangePoints(app, cmds);
}

}  // namespace perfgate::cli
