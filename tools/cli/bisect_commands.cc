// `perfgate bisect …`: narrow a change point or a good..bad range to the first bad commit
// (docs/bisect.md): start, list, get (text or Markdown), watch, mark a commit by hand, cancel.
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

std::string State(v1::BisectionState s) {
  return EnumLower(v1::BisectionState_Name(s), "BISECTION_STATE_");
}

std::string Effect(const v1::BisectionStep& s) {
  if (s.ratio() == 0) return "";
  return absl::StrFormat("%+.1f %% (%+.1f .. %+.1f %%)", 100 * (s.ratio() - 1),
                         100 * (s.ratio_low() - 1), 100 * (s.ratio_high() - 1));
}

void RenderBisection(std::ostream& o, const v1::Bisection& b, bool steps) {
  o << "bisection " << b.id() << "  " << State(b.state()) << "  " << b.suite_name() << "  "
    << b.metric() << " of " << b.job_name() << "  " << b.good().substr(0, 12) << ".."
    << b.bad().substr(0, 12) << "  on " << b.agent() << "\n  " << b.message() << "\n";
  o << absl::StrFormat("  %d step(s), %.1f agent-minutes", b.steps_size(), b.agent_seconds() / 60);
  if (b.commits_size() > 1) o << ", " << b.commits_size() - 1 << " commits in the range";
  o << "\n";
  if (!steps) return;
  for (const v1::BisectionStep& s : b.steps()) {
    o << absl::StrFormat("  %2d  %-8s  %s against %s  %-10s  %-28s  %d reps  %.0f s  run %d\n",
                         s.number(), s.purpose(), s.commit().substr(0, 12),
                         s.against().substr(0, 12), s.outcome(), Effect(s), s.repetitions(),
                         s.agent_seconds(), s.run_id());
  }
}

bool Ended(v1::BisectionState s) {
  return s == v1::BISECTION_STATE_SUCCEEDED || s == v1::BISECTION_STATE_FAILED ||
         s == v1::BISECTION_STATE_CANCELLED || s == v1::BISECTION_STATE_WAITING;
}

// Follows a bisection until it ends (or waits for a person), printing each step as it starts
// and ends. Exit: 0 succeeded, 1 failed, 3 cancelled, 6 waiting for a mark, 4 timeout or
// controller gone.
int WatchBisection(Client& c, int64_t id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string seen;
  int unreachable = 0;
  while (true) {
    v1::GetBisectionRequest req;
    req.set_id(id);
    v1::Bisection b;
    auto ctx = c.Ctx();
    if (grpc::Status s = c.stub().GetBisection(ctx.get(), req, &b); !s.ok()) {
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE || ++unreachable > 60) return Fail(s);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    unreachable = 0;
    if (b.message() != seen) {
      std::cerr << "bisection " << id << ": " << State(b.state()) << ": " << b.message() << "\n";
      seen = b.message();
    }
    if (Ended(b.state())) {
      Show(c, b, [&] { RenderBisection(std::cout, b, true); });
      switch (b.state()) {
        case v1::BISECTION_STATE_SUCCEEDED:
          return 0;
        case v1::BISECTION_STATE_CANCELLED:
          return 3;
        case v1::BISECTION_STATE_WAITING:
          return 6;
        default:
          return 1;
      }
    }
    if (absl::Now() > deadline) {
      std::cerr << "perfgate: bisection " << id << " did not end within the timeout\n";
      return 4;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

}  // namespace

void AddBisectCommands(CLI::App& app, Commands& cmds) {
  auto* bisect = app.add_subcommand(
      "bisect",
      "find the commit that caused a change: each step measures a commit of the range against "
      "the nearest good one, interleaved on one agent, until the first bad commit is known");
  bisect->require_subcommand(1);

  struct StartFlags {
    std::string project, suite, good, bad, metric, job, timeout = "12h";
    int64_t changepoint = 0, run = 0;
    double min_effect = 0;
    int max_repetitions = 0;
    bool wait = false;
  };
  auto f = std::make_shared<StartFlags>();
  auto* start = bisect->add_subcommand(
      "start",
      "start a bisection of a change point (--changepoint ID) or of a range (--good SHA --bad "
      "SHA, with --suite or --run naming what to measure)");
  start->add_option("--changepoint", f->changepoint,
                    "the change point to bisect: its range, job and metric");
  start->add_option("--good", f->good, "a commit known to be good (or a ref)");
  start->add_option("--bad", f->bad, "a commit known to be bad (or a ref)");
  start->add_option("--suite", f->suite, "measure this suite's job (its newest run's spec)");
  start->add_option("--project", f->project, "the suite's project");
  start->add_option("--run", f->run,
                    "measure the job as this run did (e.g. one tier's run of a campaign)");
  start->add_option("--job", f->job, "the job to measure (default: the first benchmark job)");
  start->add_option("--metric", f->metric,
                    "the metric that decides (default: the change point's, else "
                    "http.latency.p50)");
  start
      ->add_option("--min-effect", f->min_effect,
                   "the smallest change that makes a commit bad, as a fraction (0.1 = 10 %); "
                   "default: the suite's floor")
      ->check(CLI::Range(0.0, 10.0));
  start
      ->add_option("--max-repetitions", f->max_repetitions,
                   "a side, for a step measured again because it was undecided (default: the "
                   "suite's analysis.max_repetitions budget)")
      ->check(CLI::Range(0, 1000));
  start->add_flag("--wait", f->wait, "follow it to the end (exit as bisect watch)");
  start->add_option("--timeout", f->timeout, "with --wait: give up after this long")
      ->capture_default_str();
  cmds.Add(start, [f](Client* c, const Globals&) {
    if (f->changepoint == 0 && (f->good.empty() || f->bad.empty()))
      return Usage("name a change point (--changepoint ID) or both ends (--good SHA --bad SHA)");
    if (f->changepoint == 0 && f->suite.empty() && f->run == 0)
      return Usage("--good/--bad: say what to measure with --suite NAME or --run ID");
    absl::Duration timeout;
    if (!absl::ParseDuration(f->timeout, &timeout) || timeout <= absl::ZeroDuration())
      return Usage("--timeout: want a duration like 12h, got '" + f->timeout + "'");
    v1::StartBisectionRequest req;
    req.set_change_point_id(f->changepoint);
    req.set_good(f->good);
    req.set_bad(f->bad);
    req.set_project(f->project);
    req.set_suite_name(f->suite);
    req.set_template_run_id(f->run);
    req.set_job_name(f->job);
    req.set_metric(f->metric);
    req.set_min_effect(f->min_effect);
    req.set_max_repetitions(f->max_repetitions);
    v1::Bisection b;
    auto ctx = c->Ctx();
    if (grpc::Status s = c->stub().StartBisection(ctx.get(), req, &b); !s.ok()) return Fail(s);
    if (f->wait) {
      std::cerr << "bisection " << b.id() << " started\n";
      return WatchBisection(*c, b.id(), timeout);
    }
    return Show(*c, b, [&] { RenderBisection(std::cout, b, false); });
  });

  auto list_project = std::make_shared<std::string>();
  auto list_limit = std::make_shared<int>(50);
  auto* list = bisect->add_subcommand("list", "bisections, newest first");
  list->add_option("--project", *list_project, "only this project's");
  list->add_option("--limit", *list_limit, "at most this many")->check(CLI::Range(1, 500));
  cmds.Add(list, [=](Client* c, const Globals&) {
    v1::ListBisectionsRequest req;
    req.set_project(*list_project);
    req.set_limit(*list_limit);
    return CallAndShow<v1::ListBisectionsRequest, v1::ListBisectionsResponse>(
        *c, &v1::Controller::Stub::ListBisections, req, [](const v1::ListBisectionsResponse& r) {
          if (r.bisections().empty()) std::cout << "no bisections\n";
          for (const auto& b : r.bisections()) RenderBisection(std::cout, b, false);
        });
  });

  auto get_id = std::make_shared<int64_t>(0);
  auto get_md = std::make_shared<bool>(false);
  auto* get = bisect->add_subcommand("get", "one bisection: its outcome and every step");
  get->add_option("ID", *get_id, "bisection id")->required();
  get->add_flag("--markdown", *get_md,
                "the report as Markdown (an issue or PR comment): the culprit, its comparison "
                "against its parent, the functions that moved, the steps");
  cmds.Add(get, [=](Client* c, const Globals&) {
    v1::GetBisectionRequest req;
    req.set_id(*get_id);
    if (*get_md) {
      v1::Report r;
      auto ctx = c->Ctx();
      if (grpc::Status s = c->stub().GetBisectionReport(ctx.get(), req, &r); !s.ok())
        return Fail(s);
      std::cout << r.body();
      return 0;
    }
    return CallAndShow<v1::GetBisectionRequest, v1::Bisection>(
        *c, &v1::Controller::Stub::GetBisection, req,
        [](const v1::Bisection& b) { RenderBisection(std::cout, b, true); });
  });

  auto watch_id = std::make_shared<int64_t>(0);
  auto watch_timeout = std::make_shared<std::string>("12h");
  auto* watch = bisect->add_subcommand(
      "watch",
      "follow a bisection until it ends; exit 0 found, 1 failed, 3 cancelled, 6 waiting for "
      "a mark, 4 timeout");
  watch->add_option("ID", *watch_id, "bisection id")->required();
  watch->add_option("--timeout", *watch_timeout, "give up after this long")->capture_default_str();
  cmds.Add(watch, [=](Client* c, const Globals&) {
    absl::Duration t;
    if (!absl::ParseDuration(*watch_timeout, &t) || t <= absl::ZeroDuration())
      return Usage("--timeout: want a duration like 12h");
    return WatchBisection(*c, *watch_id, t);
  });

  auto mark_id = std::make_shared<int64_t>(0);
  auto mark_commit = std::make_shared<std::string>();
  auto mark_as = std::make_shared<std::string>();
  auto* mark = bisect->add_subcommand(
      "mark", "decide a commit by hand (a step that stayed undecided), and go on");
  mark->add_option("ID", *mark_id, "bisection id")->required();
  mark->add_option("COMMIT", *mark_commit, "the commit (a unique prefix will do)")->required();
  mark->add_option("MARK", *mark_as, "good, bad or skip")
      ->required()
      ->check(CLI::IsMember({"good", "bad", "skip"}));
  cmds.Add(mark, [=](Client* c, const Globals&) {
    v1::MarkBisectionRequest req;
    req.set_id(*mark_id);
    req.set_commit(*mark_commit);
    req.set_mark(*mark_as == "good"  ? v1::COMMIT_MARK_GOOD
                 : *mark_as == "bad" ? v1::COMMIT_MARK_BAD
                                     : v1::COMMIT_MARK_SKIPPED);
    return CallAndShow<v1::MarkBisectionRequest, v1::Bisection>(
        *c, &v1::Controller::Stub::MarkBisection, req,
        [](const v1::Bisection& b) { RenderBisection(std::cout, b, false); });
  });

  auto cancel_id = std::make_shared<int64_t>(0);
  auto* cancel = bisect->add_subcommand("cancel", "stop a bisection and cancel its open run");
  cancel->add_option("ID", *cancel_id, "bisection id")->required();
  cmds.Add(cancel, [=](Client* c, const Globals&) {
    v1::CancelBisectionRequest req;
    req.set_id(*cancel_id);
    return CallAndShow<v1::CancelBisectionRequest, v1::Bisection>(
        *c, &v1::Controller::Stub::CancelBisection, req,
        [](const v1::Bisection& b) { RenderBisection(std::cout, b, false); });
  });
}

}  // namespace perfgate::cli
