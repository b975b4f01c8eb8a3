// `perfgate run …`: submit, inspect, watch and cancel runs, and read what they measured.
#include <iostream>

#include "common/json/proto_json.h"
#include "common/spec/suite_parser.h"
#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

// A run the controller accepted: shown, or with `wait` followed until it ends.
int Submitted(Client& c, const v1::Run& run, const FollowFlags& follow) {
  if (!follow.wait && !follow.gate) return Show(c, run, [&] { RenderRun(std::cout, run); });
  if (c.json())
    std::cout << common::ProtoToJson(run, /*pretty=*/false) << "\n";  // JSON Lines
  else
    std::cerr << "submitted run " << run.id() << "\n";
  return Follow(c, run.id(), follow);
}

struct SubmitFlags {
  std::string command, suite, commit, branch, project, kind = "experiment", name, timeout;
  std::vector<std::string> env, selector;
  FollowFlags follow;
  std::string baseline_branch;
  int baseline_runs = 0;
  int64_t against = 0;
  bool aa = false;
  std::string request_id;
};

CLI::App* AddSubmit(CLI::App* run, SubmitFlags* f) {
  auto* submit =
      run->add_subcommand("submit", "queue a run: one command job, or the jobs of a suite file");
  auto* cmd_opt = submit->add_option("--command", f->command, "shell command to run on an agent");
  auto* suite_opt = submit->add_option("--suite", f->suite, "suite file (YAML or JSON)")
                        ->check(CLI::ExistingFile);
  cmd_opt->excludes(suite_opt);
  submit->add_option("--commit", f->commit, "commit of the system under test");
  submit->add_option("--branch", f->branch, "branch of the system under test");
  submit->add_option("--project", f->project, "project name");
  submit->add_option("--kind", f->kind, "baseline, candidate or experiment")
      ->check(CLI::IsMember({"baseline", "candidate", "experiment"}))
      ->capture_default_str();
  submit->add_option("--name", f->name, "job name (with --command)");
  submit->add_option("--env", f->env, "KEY=VALUE for the command (repeatable)");
  submit->add_option("--selector", f->selector, "agent label KEY=VALUE the job needs (repeatable)");
  submit->add_option("--timeout", f->timeout, "job timeout, e.g. 30m (default 1h)");
  AddFollowFlags(submit, f->follow);
  submit->add_option("--request-id", f->request_id,
                     "name this submission (e.g. the CI job's id): submitting again with the same "
                     "id answers with the first run instead of making another (default: one id "
                     "per invocation, kept across its retries)");
  submit->add_option("--baseline-branch", f->baseline_branch,
                     "candidates: compare with this branch's baseline (default: --branch)");
  submit
      ->add_option("--baseline-runs", f->baseline_runs,
                   "candidates: pool this many of the newest baseline runs (default 1)")
      ->check(CLI::Range(1, 20));
  submit->add_option("--against", f->against, "compare with this run instead of the baseline")
      ->check(CLI::PositiveNumber);
  submit->add_flag("--aa", f->aa,
                   "an A/A experiment: measure the baseline's code again (default commit: the "
                   "newest baseline run's), compare it with the baseline, and learn the noise "
                   "from it");
  return submit;
}

// The spec's jobs: a suite file's, or one command job from the flags. 0, or the exit code.
int JobsFromFlags(const SubmitFlags& f, v1::RunSpec* spec) {
  if (!f.suite.empty()) {
    auto parsed = common::LoadSuiteFile(f.suite);
    if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
    *spec = *parsed;
    return 0;
  }
  if (f.command.empty()) return Usage("run submit needs --command or --suite");
  v1::JobSpec* job = spec->add_jobs();
  job->set_name(f.name.empty() ? "command" : f.name);
  job->mutable_command()->set_command(f.command);
  try {
    for (auto& [k, v] : ParsePairs(f.env, "--env")) (*job->mutable_command()->mutable_env())[k] = v;
    for (auto& [k, v] : ParsePairs(f.selector, "--selector"))
      (*job->mutable_agent_selector())[k] = v;
  } catch (const CLI::ValidationError& e) {
    return Usage(e.what());
  }
  if (!f.timeout.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(f.timeout, &d) || d <= absl::ZeroDuration())
      return Usage("--timeout: want a duration like 30m, got '" + f.timeout + "'");
    job->mutable_command()->set_timeout_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  }
  return 0;
}

int Submit(Client& c, const SubmitFlags& f) {
  v1::SubmitRunRequest req;
  v1::RunSpec* spec = req.mutable_spec();
  if (int rc = JobsFromFlags(f, spec); rc != 0) return rc;
  if (!f.commit.empty()) spec->set_commit(f.commit);
  if (!f.branch.empty()) spec->set_branch(f.branch);
  if (!f.project.empty()) spec->set_project(f.project);
  v1::RunKind k = v1::RUN_KIND_EXPERIMENT;
  ParseEnumFlag(f.kind, "RUN_KIND_", &v1::RunKind_Parse, &k);  // CLI11 already checked the value
  spec->set_kind(k);
  if (!f.baseline_branch.empty()) spec->set_baseline_branch(f.baseline_branch);
  if (f.baseline_runs) spec->set_baseline_runs(f.baseline_runs);
  if (f.against) spec->set_against_run_id(f.against);
  spec->set_aa(f.aa);
  // One id for this submission, so that a retry after a lost reply finds the run the first
  // attempt made instead of making a second.
  req.set_request_id(f.request_id.empty() ? NewRequestId() : f.request_id);
  v1::SubmitRunResponse resp;
  grpc::Status s = CallWithRetries(
      "submission " + req.request_id(),
      [&](grpc::ClientContext* ctx) { return c.stub().SubmitRun(ctx, req, &resp); }, c);
  if (!s.ok()) return Fail(s);
  if (resp.duplicate() && !c.json())
    std::cerr << "perfgate: request " << req.request_id() << " was submitted before: run "
              << resp.run().id() << "\n";
  return Submitted(c, resp.run(), f.follow);
}

struct ListFlags {
  std::string state, branch, commit, kind, page_token;
  int limit = 50;
};

int List(Client& c, const ListFlags& f) {
  v1::ListRunsRequest req;
  v1::RunState st = v1::RUN_STATE_UNSPECIFIED;
  if (!f.state.empty() && !ParseEnumFlag(f.state, "RUN_STATE_", &v1::RunState_Parse, &st))
    return Usage("--state: unknown state '" + f.state + "'");
  v1::RunKind kind = v1::RUN_KIND_UNSPECIFIED;
  if (!f.kind.empty() && !ParseEnumFlag(f.kind, "RUN_KIND_", &v1::RunKind_Parse, &kind))
    return Usage("--kind: unknown kind '" + f.kind + "'");
  req.set_state(st);
  req.set_kind(kind);
  req.set_branch(f.branch);
  req.set_commit(f.commit);
  req.set_page_size(f.limit);
  req.set_page_token(f.page_token);
  return CallAndShow<v1::ListRunsRequest, v1::ListRunsResponse>(
      c, &v1::Controller::Stub::ListRuns, req,
      [](const v1::ListRunsResponse& r) { RenderRunList(std::cout, r); });
}

// Every log chunk so far, page by page: as it was written (table) or as one document (JSON).
int Logs(Client& c, int64_t run_id) {
  v1::GetRunLogsRequest req;
  req.set_run_id(run_id);
  v1::GetRunLogsResponse all;
  while (true) {
    v1::GetRunLogsResponse page;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetRunLogs(ctx.get(), req, &page); !s.ok()) return Fail(s);
    for (auto& ch : *page.mutable_chunks()) {
      if (!c.json()) (ch.stream() == v1::LOG_STREAM_STDOUT ? std::cout : std::cerr) << ch.data();
      *all.add_chunks() = std::move(ch);
    }
    all.set_last_id(page.last_id());
    if (page.chunks_size() == 0) break;
    req.set_after_id(page.last_id());
  }
  if (all.chunks_size() == 0) {
    // Nothing: not written yet, or removed for age. Say which.
    v1::GetRunRequest get;
    get.set_id(run_id);
    v1::Run run;
    auto ctx = c.Ctx();
    if (c.stub().GetRun(ctx.get(), get, &run).ok() && run.logs_removed_at().seconds() > 0) {
      std::cerr << "run " << run_id << ": logs removed by the retention policy on "
                << absl::FormatTime("%Y-%m-%d %H:%M UTC",
                                    absl::FromUnixSeconds(run.logs_removed_at().seconds()),
                                    absl::UTCTimeZone())
                << "\n";
    }
  }
  if (c.json()) std::cout << common::ProtoToJson(all);
  return 0;
}

// A subcommand that takes a run id and shows one answer.
template <typename Req, typename Resp>
void AddRunQuery(CLI::App* run, Commands& cmds, const std::string& name, const std::string& help,
                 grpc::Status (v1::Controller::Stub::*method)(grpc::ClientContext*, const Req&,
                                                              Resp*),
                 void (Req::*set_id)(int64_t), std::function<void(const Resp&)> table) {
  auto id = std::make_shared<int64_t>(0);
  auto* sub = run->add_subcommand(name, help);
  sub->add_option("ID", *id, "run id")->required();
  cmds.Add(sub, [=](Client* c, const Globals&) {
    Req req;
    (req.*set_id)(*id);
    return CallAndShow<Req, Resp>(*c, method, req, table);
  });
}

// `run rerun ID [--wait]`.
void AddRerun(CLI::App* run, Commands& cmds) {
  auto id = std::make_shared<int64_t>(0);
  auto rerun_follow = std::make_shared<FollowFlags>();
  auto* rerun = run->add_subcommand(
      "rerun",
      "submit a new run with the same spec, commit and kind as run ID (re-request a lost or "
      "cancelled run, or measure again)");
  rerun->add_option("ID", *id, "run id")->required();
  AddFollowFlags(rerun, *rerun_follow);
  cmds.Add(rerun, [id, rerun_follow](Client* c, const Globals&) {
    v1::RerunRunRequest req;
    req.set_id(*id);
    v1::SubmitRunResponse resp;
    auto ctx = c->Ctx();
    if (grpc::Status s = c->stub().RerunRun(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Submitted(*c, resp.run(), *rerun_follow);
  });
}

// `run results` and `run series`: what a benchmark run measured.
void AddMeasurementQueries(CLI::App* run, Commands& cmds) {
  auto id = std::make_shared<int64_t>(0);
  auto all = std::make_shared<bool>(false);
  auto* results = run->add_subcommand(
      "results",
      "a benchmark run's results: per repetition values and, per metric, the median, IQR and "
      "CV over the valid repetitions (invalid ones marked with !)");
  results->add_option("ID", *id, "run id")->required();
  results->add_flag("--all", *all,
                    "every metric in the table (default: the headline ones; JSON has all)");
  cmds.Add(results, [id, all](Client* c, const Globals&) {
    v1::GetRunResultsRequest req;
    req.set_run_id(*id);
    return CallAndShow<v1::GetRunResultsRequest, v1::RunResults>(
        *c, &v1::Controller::Stub::GetRunResults, req,
        [&](const v1::RunResults& r) { RenderResults(std::cout, r, *all); });
  });

  auto series_name = std::make_shared<std::string>();
  auto* series =
      run->add_subcommand("series", "a Prometheus range query's stored series, per repetition");
  series->add_option("ID", *id, "run id")->required();
  series->add_option("METRIC", *series_name, "the query's name in the suite")->required();
  cmds.Add(series, [id, series_name](Client* c, const Globals&) {
    v1::GetRunSeriesRequest req;
    req.set_run_id(*id);
    req.set_name(*series_name);
    return CallAndShow<v1::GetRunSeriesRequest, v1::GetRunSeriesResponse>(
        *c, &v1::Controller::Stub::GetRunSeries, req,
        [](const v1::GetRunSeriesResponse& r) { RenderSeries(std::cout, r); });
  });
}

}  // namespace

void AddRunCommands(CLI::App& app, Commands& cmds) {
  auto* run = app.add_subcommand("run", "submit, inspect, watch and cancel runs");
  run->require_subcommand(1);
  auto submit = std::make_shared<SubmitFlags>();
  cmds.Add(AddSubmit(run, submit.get()),
           [submit](Client* c, const Globals&) { return Submit(*c, *submit); });

  AddRunQuery<v1::GetRunRequest, v1::Run>(run, cmds, "get", "show a run with its jobs",
                                          &v1::Controller::Stub::GetRun, &v1::GetRunRequest::set_id,
                                          [](const v1::Run& r) { RenderRun(std::cout, r); });

  auto list = std::make_shared<ListFlags>();
  auto* ls = run->add_subcommand("list", "list runs, newest first");
  ls->add_option("--state", list->state,
                 "queued, running, succeeded, failed, cancelled, cancelling");
  ls->add_option("--branch", list->branch, "only this branch");
  ls->add_option("--commit", list->commit, "only this commit");
  ls->add_option("--kind", list->kind, "baseline, candidate or experiment");
  ls->add_option("--limit", list->limit, "page size (max 500)")->capture_default_str();
  ls->add_option("--page-token", list->page_token, "continue a previous listing");
  cmds.Add(ls, [list](Client* c, const Globals&) { return List(*c, *list); });

  AddRunQuery<v1::CancelRunRequest, v1::Run>(
      run, cmds, "cancel", "cancel a run (queued jobs at once, running ones via their agent)",
      &v1::Controller::Stub::CancelRun, &v1::CancelRunRequest::set_id,
      [](const v1::Run& r) { RenderRun(std::cout, r); });

  AddRerun(run, cmds);

  auto id = std::make_shared<int64_t>(0);
  auto* watch = run->add_subcommand("watch", "follow a run's state and logs until it ends");
  watch->add_option("ID", *id, "run id")->required();
  auto watch_gate = std::make_shared<FollowFlags>();
  watch->add_flag("--gate", watch_gate->gate,
                  "then wait for the final verdict: exit 0 no regression, 5 a regression or a "
                  "critical limit, 6 no verdict");
  watch->add_option("--gate-timeout", watch_gate->gate_timeout, "give up after this long (exit 4)")
      ->capture_default_str();
  cmds.Add(watch,
           [id, watch_gate](Client* c, const Globals&) { return Follow(*c, *id, *watch_gate); });
  auto* logs = run->add_subcommand("logs", "print a run's logs so far");
  logs->add_option("ID", *id, "run id")->required();
  cmds.Add(logs, [id](Client* c, const Globals&) { return Logs(*c, *id); });

  AddMeasurementQueries(run, cmds);
  AddRunQuery<v1::GetRunDbStatsRequest, v1::GetRunDbStatsResponse>(
      run, cmds, "dbstats", "pg_stat_statements top statements and EXPLAIN plans, per repetition",
      &v1::Controller::Stub::GetRunDbStats, &v1::GetRunDbStatsRequest::set_run_id,
      [](const v1::GetRunDbStatsResponse& r) { RenderDbStats(std::cout, r); });
}

}  // namespace perfgate::cli
