// `perfgate compare|report|history`: a candidate's verdicts, its report in every format, and a
// metric's history along a branch's baselines.
#include <iostream>

#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

void AddAnalysisCommands(CLI::App& app, Commands& cmds) {
  auto compare_req = std::make_shared<v1::CompareRunRequest>();
  auto* compare = app.add_subcommand(
      "compare",
      "a candidate's verdicts against its baseline: Mann-Whitney U per metric, "
      "Benjamini-Hochberg across metrics, ratio of medians with a bootstrap 95 % CI");
  compare
      ->add_option_function<int64_t>(
          "CANDIDATE", [compare_req](int64_t v) { compare_req->set_run_id(v); }, "candidate run id")
      ->required();
  compare
      ->add_option_function<int64_t>(
          "--against", [compare_req](int64_t v) { compare_req->set_against_run_id(v); },
          "compare with this run now (default: the stored comparison with the branch's baseline)")
      ->check(CLI::PositiveNumber);
  cmds.Add(compare, [compare_req](Client* c, const Globals&) {
    return CallAndShow<v1::CompareRunRequest, v1::Comparison>(
        *c, &v1::Controller::Stub::CompareRun, *compare_req,
        [](const v1::Comparison& r) { RenderComparison(std::cout, r); }, absl::Minutes(2));
  });

  auto report_req = std::make_shared<v1::GetReportRequest>();
  report_req->set_format("md");
  auto* report = app.add_subcommand(
      "report",
      "a candidate's report: md (PR comment), json (schema: perfgate.v1.Comparison), "
      "text, or html (prints the page's URL)");
  report
      ->add_option_function<int64_t>(
          "RUN", [report_req](int64_t v) { report_req->set_run_id(v); }, "candidate run id")
      ->required();
  report->add_option("--format", *report_req->mutable_format(), "md, json, text or html")
      ->check(CLI::IsMember({"md", "json", "text", "html"}))
      ->capture_default_str();
  cmds.Add(report, [report_req](Client* c, const Globals&) {
    v1::Report resp;
    auto ctx = c->Ctx();
    if (auto s = c->stub().GetReport(ctx.get(), *report_req, &resp); !s.ok()) return Fail(s);
    std::cout << resp.body();
    if (!resp.body().empty() && resp.body().back() != '\n') std::cout << "\n";
    return 0;
  });

  auto hreq = std::make_shared<v1::GetHistoryRequest>();
  hreq->set_limit(50);
  auto* history = app.add_subcommand(
      "history", "a metric's medians along a branch's baseline runs, with change points");
  history->add_option("--suite", *hreq->mutable_suite_name(), "suite name")->required();
  history->add_option("--metric", *hreq->mutable_metric(), "metric name")->required();
  history->add_option("--branch", *hreq->mutable_branch(), "branch (default main)");
  history->add_option("--project", *hreq->mutable_project(), "project (default any)");
  history->add_option("--job", *hreq->mutable_job_name(), "job (default: the newest run's)");
  history->add_option("--machine-class", *hreq->mutable_machine_class(),
                      "machine class (default: the newest run's)");
  history->add_option_function<int>(
      "--limit", [hreq](int v) { hreq->set_limit(v); }, "newest points (default 50)");
  cmds.Add(history, [hreq](Client* c, const Globals&) {
    return CallAndShow<v1::GetHistoryRequest, v1::History>(
        *c, &v1::Controller::Stub::GetHistory, *hreq,
        [](const v1::History& r) { RenderHistory(std::cout, r); });
  });
}

}  // namespace perfgate::cli
