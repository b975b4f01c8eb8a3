// perfgate: the operator CLI. Talks to the controller's gRPC API.
// Exit codes: 0 success (for watch/--wait: the run succeeded), 1 the run failed, 2 bad usage
// or a refused request, 3 the run was cancelled, 4 the controller could not be reached.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "common/grpc/auth.h"
#include "common/hash/sha256.h"
#include "common/json/proto_json.h"
#include "common/spec/suite_parser.h"
#include "perfgate/v1/controller.grpc.pb.h"
#include "tools/cli/load_command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

struct Globals {
  std::string controller;
  std::string token;
  std::string token_file;
  std::string output = "table";
};

int Fail(const grpc::Status& s) {
  std::cerr << "perfgate: " << s.error_message() << " (" << static_cast<int>(s.error_code())
            << ")\n";
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? 4
             : 2;
}

int ExitCodeFor(v1::RunState s) {
  switch (s) {
    case v1::RUN_STATE_SUCCEEDED:
      return 0;
    case v1::RUN_STATE_CANCELLED:
      return 3;
    default:
      return 1;
  }
}

class Client {
 public:
  explicit Client(const Globals& g) : g_(g) {
    stub_ = v1::Controller::NewStub(
        grpc::CreateChannel(g.controller, grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(30)) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!g_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + g_.token);
    if (timeout != absl::InfiniteDuration()) {
      ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
    }
    return ctx;
  }
  v1::Controller::Stub& stub() { return *stub_; }
  bool json() const { return g_.output == "json"; }

 private:
  const Globals& g_;
  std::unique_ptr<v1::Controller::Stub> stub_;
};

int Show(Client& c, const google::protobuf::Message& m, const std::function<void()>& table) {
  if (c.json()) {
    std::cout << common::ProtoToJson(m);
  } else {
    table();
  }
  return 0;
}

// Streams a run's changes (and logs) until it ends. Returns the exit code for its outcome.
int Watch(Client& c, int64_t id, bool logs) {
  v1::WatchRunRequest req;
  req.set_id(id);
  req.set_logs(logs);
  int64_t after = 0;
  v1::Run last;
  for (int reconnects = 0; reconnects < 30; ++reconnects) {
    req.set_after_log_id(after);
    auto ctx = c.Ctx(absl::InfiniteDuration());
    auto reader = c.stub().WatchRun(ctx.get(), req);
    v1::RunEvent ev;
    while (reader->Read(&ev)) {
      if (ev.has_run()) {
        if (ev.run().state() != last.state()) {
          if (c.json()) {
            std::cout << common::ProtoToJson(ev.run());
          } else {
            std::cerr << "run " << id << ": " << RunStateShort(ev.run().state()) << "\n";
          }
        }
        last = ev.run();
      } else if (ev.has_log()) {
        after = ev.log().id();
        if (!c.json())
          (ev.log().stream() == v1::LOG_STREAM_STDOUT ? std::cout : std::cerr) << ev.log().data();
        std::cout.flush();
      }
    }
    grpc::Status s = reader->Finish();
    if (s.ok()) {
      if (!c.json()) RenderRun(std::cerr, last);
      return ExitCodeFor(last.state());
    }
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return Fail(s);
    std::cerr << "perfgate: lost the controller (" << s.error_message() << "); reconnecting\n";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cerr << "perfgate: gave up watching run " << id << "\n";
  return 4;
}

// "failed" -> RUN_STATE_FAILED etc. False when the value names no enum member.
template <typename Enum>
bool ParseEnumFlag(const std::string& value, const std::string& prefix,
                   bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string up = value;
  for (auto& ch : up) ch = toupper(static_cast<unsigned char>(ch));
  return parse(prefix + up, out);
}

std::map<std::string, std::string> ParsePairs(const std::vector<std::string>& items,
                                              const std::string& flag) {
  std::map<std::string, std::string> out;
  for (const auto& kv : items) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError(flag, "want KEY=VALUE, got '" + kv + "'");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace
}  // namespace perfgate::cli

int main(int argc, char** argv) {
  using namespace perfgate;
  using namespace perfgate::cli;
  Globals g;
  if (const char* e = std::getenv("PERFGATE_CONTROLLER")) g.controller = e;
  if (g.controller.empty()) g.controller = "127.0.0.1:7600";
  if (const char* e = std::getenv("PERFGATE_TOKEN")) g.token = e;

  CLI::App app{
      "perfgate: operate a perfgate performance lab (runs, logs, agents) through its controller."};
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `perfgate run results 7 --output json`.
  app.fallthrough();
  app.add_option("--controller", g.controller,
                 "controller address HOST:PORT (env PERFGATE_CONTROLLER)")
      ->capture_default_str();
  app.add_option("--token", g.token, "API bearer token (env PERFGATE_TOKEN)");
  app.add_option("--token-file", g.token_file, "read the API token from this file");
  app.add_option("--output,-o", g.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  auto* run = app.add_subcommand("run", "submit, inspect, watch and cancel runs");
  run->require_subcommand(1);
  auto* submit =
      run->add_subcommand("submit", "queue a run: one command job, or the jobs of a suite file");
  std::string command, suite, commit, branch, project, kind = "experiment", name, timeout;
  std::vector<std::string> env, selector;
  bool wait = false;
  auto* cmd_opt = submit->add_option("--command", command, "shell command to run on an agent");
  auto* suite_opt =
      submit->add_option("--suite", suite, "suite file (YAML or JSON)")->check(CLI::ExistingFile);
  cmd_opt->excludes(suite_opt);
  submit->add_option("--commit", commit, "commit of the system under test");
  submit->add_option("--branch", branch, "branch of the system under test");
  submit->add_option("--project", project, "project name");
  submit->add_option("--kind", kind, "baseline, candidate or experiment")
      ->check(CLI::IsMember({"baseline", "candidate", "experiment"}))
      ->capture_default_str();
  submit->add_option("--name", name, "job name (with --command)");
  submit->add_option("--env", env, "KEY=VALUE for the command (repeatable)");
  submit->add_option("--selector", selector, "agent label KEY=VALUE the job needs (repeatable)");
  submit->add_option("--timeout", timeout, "job timeout, e.g. 30m (default 1h)");
  submit->add_flag("--wait", wait, "watch the run until it ends; exit code reflects the outcome");
  std::string baseline_branch;
  int baseline_runs = 0;
  int64_t against = 0;
  submit->add_option("--baseline-branch", baseline_branch,
                     "candidates: compare with this branch's baseline (default: --branch)");
  submit
      ->add_option("--baseline-runs", baseline_runs,
                   "candidates: pool this many of the newest baseline runs (default 1)")
      ->check(CLI::Range(1, 20));
  submit->add_option("--against", against, "compare with this run instead of the baseline")
      ->check(CLI::PositiveNumber);
  bool aa = false;
  submit->add_flag("--aa",
                   aa,
                   "an A/A experiment: measure the baseline's code again (default commit: the "
                   "newest baseline run's), compare it with the baseline, and learn the noise "
                   "from it");

  int64_t run_id = 0;
  auto* get = run->add_subcommand("get", "show a run with its jobs");
  get->add_option("ID", run_id, "run id")->required();
  auto* list = run->add_subcommand("list", "list runs, newest first");
  std::string f_state, f_branch, f_commit, f_kind, page_token;
  int limit = 50;
  list->add_option("--state", f_state, "queued, running, succeeded, failed, cancelled, cancelling");
  list->add_option("--branch", f_branch, "only this branch");
  list->add_option("--commit", f_commit, "only this commit");
  list->add_option("--kind", f_kind, "baseline, candidate or experiment");
  list->add_option("--limit", limit, "page size (max 500)")->capture_default_str();
  list->add_option("--page-token", page_token, "continue a previous listing");
  auto* cancel = run->add_subcommand(
      "cancel", "cancel a run (queued jobs at once, running ones via their agent)");
  cancel->add_option("ID", run_id, "run id")->required();
  auto* watch = run->add_subcommand("watch", "follow a run's state and logs until it ends");
  watch->add_option("ID", run_id, "run id")->required();
  auto* logs = run->add_subcommand("logs", "print a run's logs so far");
  logs->add_option("ID", run_id, "run id")->required();
  auto* results = run->add_subcommand(
      "results",
      "a benchmark run's results: per repetition values and, per metric, the median, IQR and "
      "CV over the valid repetitions (invalid ones marked with !)");
  results->add_option("ID", run_id, "run id")->required();
  bool all_metrics = false;
  results->add_flag("--all", all_metrics,
                    "every metric in the table (default: the headline ones; JSON has all)");

  std::string series_name;
  auto* series =
      run->add_subcommand("series", "a Prometheus range query's stored series, per repetition");
  series->add_option("ID", run_id, "run id")->required();
  series->add_option("METRIC", series_name, "the query's name in the suite")->required();
  auto* dbstats = run->add_subcommand(
      "dbstats", "pg_stat_statements top statements and EXPLAIN plans, per repetition");
  dbstats->add_option("ID", run_id, "run id")->required();

  auto* profile = app.add_subcommand("profile", "pprof profiles captured during runs");
  profile->require_subcommand(1);
  auto* plist = profile->add_subcommand("list", "a run's profiles");
  plist->add_option("RUN", run_id, "run id")->required();
  int64_t profile_id = 0, other_id = 0;
  std::string sample_type, out_file;
  int top_n = 20;
  auto* ptop = profile->add_subcommand(
      "top", "the functions with the largest flat values (flat: own; cum: with callees)");
  ptop->add_option("ID", profile_id, "profile id (from profile list)")->required();
  ptop->add_option("--sample-type", sample_type,
                   "e.g. cpu, inuse_space, alloc_objects (default: the profile's default)");
  ptop->add_option("-n,--limit", top_n, "functions to show")->capture_default_str();
  auto* pdiff = profile->add_subcommand(
      "diff",
      "what changed from profile A to B by function (baseline vs candidate, or a "
      "run's first and last heap profile: growth = leak suspects)");
  pdiff->add_option("A", profile_id, "base profile id")->required();
  pdiff->add_option("B", other_id, "candidate profile id")->required();
  pdiff->add_option("--sample-type", sample_type, "as for top (default: A's default)");
  pdiff->add_option("-n,--limit", top_n, "functions to show")->capture_default_str();
  auto* pdown = profile->add_subcommand(
      "download", "write the profile as captured (opens unchanged in go tool pprof)");
  pdown->add_option("ID", profile_id, "profile id")->required();
  pdown->add_option("-o,--file", out_file, "where to write it")->required();

  auto* agent = app.add_subcommand("agent", "inspect and drain agents");
  agent->require_subcommand(1);
  auto* alist = agent->add_subcommand("list", "list agents");
  auto* drain =
      agent->add_subcommand("drain", "stop giving work to an agent (its running job finishes)");
  std::string agent_name;
  bool undo = false;
  drain->add_option("NAME", agent_name, "agent name")->required();
  drain->add_flag("--undo", undo, "resume giving it work");

  // Analysis.
  auto* compare = app.add_subcommand(
      "compare",
      "a candidate's verdicts against its baseline: Mann-Whitney U per metric, "
      "Benjamini-Hochberg across metrics, ratio of medians with a bootstrap 95 % CI");
  compare->add_option("CANDIDATE", run_id, "candidate run id")->required();
  int64_t compare_against = 0;
  compare
      ->add_option("--against", compare_against,
                   "compare with this run now (default: the stored comparison with the "
                   "branch's baseline)")
      ->check(CLI::PositiveNumber);
  auto* report = app.add_subcommand(
      "report",
      "a candidate's report: md (PR comment), json (schema: perfgate.v1.Comparison), "
      "text, or html (prints the page's URL)");
  report->add_option("RUN", run_id, "candidate run id")->required();
  std::string report_format = "md";
  report->add_option("--format", report_format, "md, json, text or html")
      ->check(CLI::IsMember({"md", "json", "text", "html"}))
      ->capture_default_str();
  auto* history = app.add_subcommand(
      "history", "a metric's medians along a branch's baseline runs, with change points");
  v1::GetHistoryRequest hreq;
  history->add_option("--suite", *hreq.mutable_suite_name(), "suite name")->required();
  history->add_option("--metric", *hreq.mutable_metric(), "metric name")->required();
  history->add_option("--branch", *hreq.mutable_branch(), "branch (default main)");
  history->add_option("--project", *hreq.mutable_project(), "project (default any)");
  history->add_option("--job", *hreq.mutable_job_name(), "job (default: the newest run's)");
  history->add_option("--machine-class", *hreq.mutable_machine_class(),
                      "machine class (default: the newest run's)");
  int history_limit = 50;
  history->add_option("--limit", history_limit, "newest points")->capture_default_str();

  auto* alert = app.add_subcommand("alert", "regression, improvement and change-point alerts");
  alert->require_subcommand(1);
  auto* alist_cmd = alert->add_subcommand("list", "alerts, newest first");
  std::string alert_state, note;
  alist_cmd->add_option("--state", alert_state, "firing, acknowledged or resolved");
  int64_t alert_id = 0;
  auto* aack = alert->add_subcommand("ack", "acknowledge an alert");
  aack->add_option("ID", alert_id, "alert id")->required();
  aack->add_option("--note", note, "why");
  auto* aresolve = alert->add_subcommand("resolve", "resolve an alert (Alertmanager is told)");
  aresolve->add_option("ID", alert_id, "alert id")->required();
  aresolve->add_option("--note", note, "why");

  auto* cp = app.add_subcommand("changepoint", "change points found along baseline branches");
  cp->require_subcommand(1);
  auto* cplist = cp->add_subcommand("list", "change points, newest first");
  std::string cp_state, cp_suite;
  cplist->add_option("--state", cp_state, "open, acknowledged, fixed or false_positive");
  cplist->add_option("--suite", cp_suite, "only this suite");
  auto* cptriage = cp->add_subcommand("triage", "set a change point's state");
  int64_t cp_id = 0;
  cptriage->add_option("ID", cp_id, "change point id")->required();
  cptriage->add_option("STATE", cp_state, "open, acknowledged, fixed or false_positive")
      ->required()
      ->check(CLI::IsMember({"open", "acknowledged", "fixed", "false_positive"}));
  cptriage->add_option("--note", note, "why");

  auto* load = app.add_subcommand(
      "load", "drive HTTP load at a URL with the built-in generator (no controller)");
  LoadFlags load_flags;
  AddLoadFlags(load, &load_flags);

  CLI11_PARSE(app, argc, argv);
  if (load->parsed()) return RunLoadCommand(load_flags, g.output == "json");
  if (!g.token_file.empty()) {
    auto t = common::ReadTokenFile(g.token_file);
    if (!t.ok()) {
      std::cerr << "perfgate: " << t.status().message() << "\n";
      return 2;
    }
    g.token = *t;
  }
  Client c(g);

  if (submit->parsed()) {
    v1::SubmitRunRequest req;
    v1::RunSpec* spec = req.mutable_spec();
    try {
      if (!suite.empty()) {
        auto parsed = common::LoadSuiteFile(suite);
        if (!parsed.ok()) {
          std::cerr << "perfgate: " << parsed.status().message() << "\n";
          return 2;
        }
        *spec = *parsed;
      } else if (!command.empty()) {
        v1::JobSpec* job = spec->add_jobs();
        job->set_name(name.empty() ? "command" : name);
        job->mutable_command()->set_command(command);
        for (auto& [k, v] : ParsePairs(env, "--env"))
          (*job->mutable_command()->mutable_env())[k] = v;
        for (auto& [k, v] : ParsePairs(selector, "--selector"))
          (*job->mutable_agent_selector())[k] = v;
        if (!timeout.empty()) {
          absl::Duration d;
          if (!absl::ParseDuration(timeout, &d) || d <= absl::ZeroDuration()) {
            std::cerr << "perfgate: --timeout: want a duration like 30m, got '" << timeout << "'\n";
            return 2;
          }
          job->mutable_command()->set_timeout_seconds(
              std::max<int64_t>(1, absl::ToInt64Seconds(d)));
        }
      } else {
        std::cerr << "perfgate: run submit needs --command or --suite\n";
        return 2;
      }
    } catch (const CLI::ValidationError& e) {
      std::cerr << "perfgate: " << e.what() << "\n";
      return 2;
    }
    if (!commit.empty()) spec->set_commit(commit);
    if (!branch.empty()) spec->set_branch(branch);
    if (!project.empty()) spec->set_project(project);
    v1::RunKind k = v1::RUN_KIND_EXPERIMENT;
    ParseEnumFlag(kind, "RUN_KIND_", &v1::RunKind_Parse, &k);  // CLI11 already checked the value
    spec->set_kind(k);
    if (!baseline_branch.empty()) spec->set_baseline_branch(baseline_branch);
    if (baseline_runs) spec->set_baseline_runs(baseline_runs);
    if (against) spec->set_against_run_id(against);
    spec->set_aa(aa);
    v1::SubmitRunResponse resp;
    auto ctx = c.Ctx();
    grpc::Status s = c.stub().SubmitRun(ctx.get(), req, &resp);
    if (!s.ok()) return Fail(s);
    if (!wait) return Show(c, resp.run(), [&] { RenderRun(std::cout, resp.run()); });
    if (c.json())
      std::cout << common::ProtoToJson(resp.run());
    else
      std::cerr << "submitted run " << resp.run().id() << "\n";
    return Watch(c, resp.run().id(), true);
  }
  if (compare->parsed()) {
    v1::CompareRunRequest req;
    req.set_run_id(run_id);
    req.set_against_run_id(compare_against);
    v1::Comparison resp;
    auto ctx = c.Ctx(absl::Minutes(2));
    if (auto s = c.stub().CompareRun(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderComparison(std::cout, resp); });
  }
  if (report->parsed()) {
    v1::GetReportRequest req;
    req.set_run_id(run_id);
    req.set_format(report_format);
    v1::Report resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetReport(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    std::cout << resp.body();
    if (!resp.body().empty() && resp.body().back() != '\n') std::cout << "\n";
    return 0;
  }
  if (history->parsed()) {
    hreq.set_limit(history_limit);
    v1::History resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetHistory(ctx.get(), hreq, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderHistory(std::cout, resp); });
  }
  if (alist_cmd->parsed()) {
    v1::ListAlertsRequest req;
    req.set_state(alert_state);
    v1::ListAlertsResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().ListAlerts(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderAlerts(std::cout, resp); });
  }
  if (aack->parsed() || aresolve->parsed()) {
    v1::UpdateAlertRequest req;
    req.set_id(alert_id);
    req.set_state(aack->parsed() ? "acknowledged" : "resolved");
    req.set_note(note);
    v1::Alert resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().UpdateAlert(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    v1::ListAlertsResponse one;
    *one.add_alerts() = resp;
    return Show(c, resp, [&] { RenderAlerts(std::cout, one); });
  }
  if (cplist->parsed()) {
    v1::ListChangePointsRequest req;
    req.set_state(cp_state);
    req.set_suite_name(cp_suite);
    v1::ListChangePointsResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().ListChangePoints(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderChangePoints(std::cout, resp.change_points()); });
  }
  if (cptriage->parsed()) {
    v1::TriageChangePointRequest req;
    req.set_id(cp_id);
    req.set_state(cp_state);
    req.set_note(note);
    v1::ChangePointRecord resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().TriageChangePoint(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    google::protobuf::RepeatedPtrField<v1::ChangePointRecord> one;
    *one.Add() = resp;
    return Show(c, resp, [&] { RenderChangePoints(std::cout, one); });
  }
  if (results->parsed()) {
    v1::GetRunResultsRequest req;
    req.set_run_id(run_id);
    v1::RunResults resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetRunResults(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderResults(std::cout, resp, all_metrics); });
  }
  if (series->parsed()) {
    v1::GetRunSeriesRequest req;
    req.set_run_id(run_id);
    req.set_name(series_name);
    v1::GetRunSeriesResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetRunSeries(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderSeries(std::cout, resp); });
  }
  if (dbstats->parsed()) {
    v1::GetRunDbStatsRequest req;
    req.set_run_id(run_id);
    v1::GetRunDbStatsResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetRunDbStats(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderDbStats(std::cout, resp); });
  }
  if (plist->parsed()) {
    v1::ListProfilesRequest req;
    req.set_run_id(run_id);
    v1::ListProfilesResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().ListProfiles(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderProfiles(std::cout, resp); });
  }
  if (ptop->parsed()) {
    v1::GetProfileTopRequest req;
    req.set_profile_id(profile_id);
    req.set_sample_type(sample_type);
    req.set_limit(top_n);
    v1::ProfileTop resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetProfileTop(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderProfileTop(std::cout, resp); });
  }
  if (pdiff->parsed()) {
    v1::DiffProfilesRequest req;
    req.set_base_id(profile_id);
    req.set_candidate_id(other_id);
    req.set_sample_type(sample_type);
    req.set_limit(top_n);
    v1::ProfileDiff resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().DiffProfiles(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderProfileDiff(std::cout, resp); });
  }
  if (pdown->parsed()) {
    v1::DownloadProfileRequest req;
    req.set_profile_id(profile_id);
    auto ctx = c.Ctx(absl::Minutes(10));
    auto reader = c.stub().DownloadProfile(ctx.get(), req);
    v1::DownloadProfileChunk chunk;
    std::string bytes, sha;
    int64_t size = -1;
    while (reader->Read(&chunk)) {
      if (size < 0) {
        size = chunk.size();
        sha = chunk.sha256();
      }
      bytes += chunk.data();
    }
    if (auto s = reader->Finish(); !s.ok()) return Fail(s);
    if (static_cast<int64_t>(bytes.size()) != size) {
      std::cerr << "perfgate: got " << bytes.size() << " of " << size << " bytes\n";
      return 4;
    }
    if (common::Sha256Hex(bytes) != sha) {
      std::cerr << "perfgate: the bytes received do not hash to " << sha << "\n";
      return 4;
    }
    std::string tmp = out_file + ".part";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out) {
        std::cerr << "perfgate: cannot write " << tmp << "\n";
        return 2;
      }
    }
    if (std::rename(tmp.c_str(), out_file.c_str()) != 0) {
      std::cerr << "perfgate: cannot rename " << tmp << " to " << out_file << "\n";
      return 2;
    }
    std::cerr << "wrote " << bytes.size() << " bytes (sha256 " << sha.substr(0, 12) << ") to "
              << out_file << "\n";
    return 0;
  }
  if (get->parsed()) {
    v1::GetRunRequest req;
    req.set_id(run_id);
    v1::Run resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().GetRun(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderRun(std::cout, resp); });
  }
  if (list->parsed()) {
    v1::ListRunsRequest req;
    v1::RunState st = v1::RUN_STATE_UNSPECIFIED;
    if (!f_state.empty() && !ParseEnumFlag(f_state, "RUN_STATE_", &v1::RunState_Parse, &st)) {
      std::cerr << "perfgate: --state: unknown state '" << f_state << "'\n";
      return 2;
    }
    v1::RunKind fk = v1::RUN_KIND_UNSPECIFIED;
    if (!f_kind.empty() && !ParseEnumFlag(f_kind, "RUN_KIND_", &v1::RunKind_Parse, &fk)) {
      std::cerr << "perfgate: --kind: unknown kind '" << f_kind << "'\n";
      return 2;
    }
    req.set_state(st);
    req.set_kind(fk);
    req.set_branch(f_branch);
    req.set_commit(f_commit);
    req.set_page_size(limit);
    req.set_page_token(page_token);
    v1::ListRunsResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().ListRuns(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderRunList(std::cout, resp); });
  }
  if (cancel->parsed()) {
    v1::CancelRunRequest req;
    req.set_id(run_id);
    v1::Run resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().CancelRun(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    return Show(c, resp, [&] { RenderRun(std::cout, resp); });
  }
  if (watch->parsed()) return Watch(c, run_id, true);
  if (logs->parsed()) {
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
    if (c.json()) std::cout << common::ProtoToJson(all);
    return 0;
  }
  if (alist->parsed()) {
    v1::ListAgentsResponse resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().ListAgents(ctx.get(), v1::ListAgentsRequest(), &resp); !s.ok())
      return Fail(s);
    return Show(c, resp, [&] { RenderAgents(std::cout, resp); });
  }
  if (drain->parsed()) {
    v1::DrainAgentRequest req;
    req.set_name(agent_name);
    req.set_undo(undo);
    v1::Agent resp;
    auto ctx = c.Ctx();
    if (auto s = c.stub().DrainAgent(ctx.get(), req, &resp); !s.ok()) return Fail(s);
    v1::ListAgentsResponse one;
    *one.add_agents() = resp;
    return Show(c, resp, [&] { RenderAgents(std::cout, one); });
  }
  return 2;
}
