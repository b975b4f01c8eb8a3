// The bisection benchmark (issue 19): steps and agent time to the culprit for ranges of 16, 64
// and 256 commits of the sample target, through the real controller and agent (the detection
// benchmark's lab). Each range is a fresh run of commits on the lab's repository: its first
// commit is good, the one at --position of the way (and every later one) serves each request
// --effect slower. A baseline at the bad end is the template; `StartBisection` then runs to the
// end while each step is printed as it finishes.
//
// What it reports per range: whether the culprit was found, the measured steps against the
// binary-search floor ceil(log2(N - 1)) and the plan's bound (that + 2: the ends, and the culprit
// against its parent when no halving measured it), steps measured again because they stayed
// undecided (or were interrupted), agent and wall time, and the reference in the same
// invocation: a linear scan of the range (a step per commit at this run's mean step cost).
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "controller/bisect/bisect_plan.h"
#include "perfgate/v1/bisect.pb.h"
#include "tests/bench/detection/lab.h"

namespace perfgate::bench {
namespace {

struct RangeResult {
  int commits = 0, culprit = 0;        // culprit: 1-based position in the range (good is 1)
  bool found = false, spread = false;  // spread: reported as carrying part of the change
  int measured = 0, skipped = 0, remeasured = 0, floor = 0, bound = 0;
  double agent_seconds = 0, wall_seconds = 0;
  std::string state, message;
};

std::string Short(const std::string& sha) { return sha.substr(0, 10); }

absl::StatusOr<v1::Bisection> Get(Lab& lab, int64_t id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetBisectionRequest req;
  req.set_id(id);
  v1::Bisection b;
  grpc::Status s = lab.stub().GetBisection(&ctx, req, &b);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return b;
}

bool Finished(const v1::Bisection& b) {
  return b.state() == v1::BISECTION_STATE_SUCCEEDED || b.state() == v1::BISECTION_STATE_FAILED ||
         b.state() == v1::BISECTION_STATE_CANCELLED || b.state() == v1::BISECTION_STATE_WAITING;
}

// Makes the range, bisects it, prints each step as it ends.
RangeResult BisectRange(Lab& lab, int n, double position, double effect, int max_repetitions,
                        absl::Duration timeout) {
  RangeResult r;
  r.commits = n;
  r.culprit = std::clamp(static_cast<int>(std::lround(position * n)), 2, n);
  const std::string good_flags = "--added-latency 2000us";
  const std::string bad_flags =
      absl::StrCat("--added-latency ", std::lround(2000 * (1 + effect)), "us");
  std::vector<std::string> shas;
  for (int i = 1; i <= n; ++i) shas.push_back(lab.Commit(i >= r.culprit ? bad_flags : good_flags));
  r.floor = static_cast<int>(std::ceil(std::log2(n - 1)));
  r.bound = r.floor + 2;
  std::cout << absl::StrFormat("\n%d commits: %s..%s, commit %d (%s) adds %.0f %% latency\n", n,
                               Short(shas.front()), Short(shas.back()), r.culprit,
                               Short(shas[r.culprit - 1]), 100 * effect)
            << std::flush;
  const int64_t tmpl = lab.Submit(shas.back(), "baseline", "main");
  lab.WaitSucceeded(tmpl);

  const absl::Time t0 = absl::Now();
  v1::StartBisectionRequest req;
  req.set_template_run_id(tmpl);
  req.set_good(shas.front());
  req.set_bad(shas.back());
  req.set_max_repetitions(max_repetitions);
  v1::Bisection b;
  {
    grpc::ClientContext ctx;
    grpc::Status s = lab.stub().StartBisection(&ctx, req, &b);
    if (!s.ok()) {
      r.state = "not started";
      r.message = s.error_message();
      std::cout << "  not started: " << s.error_message() << "\n";
      return r;
    }
  }
  int printed = 0;
  while (absl::Now() - t0 < timeout) {
    absl::SleepFor(absl::Seconds(2));
    auto got = Get(lab, b.id());
    if (!got.ok()) continue;
    b = *std::move(got);
    for (; printed < b.steps_size(); ++printed) {
      const v1::BisectionStep& s = b.steps(printed);
      if (s.outcome() == "running") break;
      auto pos = [&](const std::string& sha) {
        for (int i = 0; i < n; ++i)
          if (shas[i] == sha) return i + 1;
        return 0;
      };
      std::cout << absl::StrFormat(
                       "  step %d %-8s commit %3d against %3d: %-10s %+6.1f %% (%+.1f .. %+.1f), "
                       "%d repetitions a side, %.0f s of agent time\n",
                       s.number(), s.purpose(), pos(s.commit()), pos(s.against()), s.outcome(),
                       100 * (s.ratio() - 1), 100 * (s.ratio_low() - 1), 100 * (s.ratio_high() - 1),
                       s.repetitions(), s.agent_seconds())
                << std::flush;
    }
    if (Finished(b)) break;
  }
  r.wall_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  if (!Finished(b)) {
    grpc::ClientContext ctx;
    v1::CancelBisectionRequest cancel;
    cancel.set_id(b.id());
    v1::Bisection ignored;
    (void)lab.stub().CancelBisection(&ctx, cancel, &ignored);
    r.state = "timed out";
    return r;
  }
  r.state = v1::BisectionState_Name(b.state()).substr(16);
  r.message = b.message();
  r.found = b.culprit() == shas[r.culprit - 1];
  r.spread = b.spread();
  r.agent_seconds = b.agent_seconds();
  const controller::StepCounts steps = controller::CountSteps(b);
  r.skipped = steps.skipped;
  r.measured = steps.pairs + steps.again;
  r.remeasured = steps.again;
  std::cout << "  " << r.state << ": " << r.message << "\n";
  return r;
}

}  // namespace
}  // namespace perfgate::bench

int main(int argc, char** argv) {
  using perfgate::bench::Lab;
  using perfgate::bench::RangeResult;
  CLI::App app{
      "perfgate bisection benchmark: steps and agent time to the culprit commit for ranges of "
      "commits of the sample target, through a real controller and agent"};
  std::string bin_dir, source_dir, json_out;
  std::vector<int> sizes = {16, 64, 256};
  double position = 0.7, effect = 0.2;
  int max_repetitions = 0;
  int timeout_minutes = 30;
  app.add_option("--bin-dir", bin_dir, "where perfgate's binaries are")->required();
  app.add_option("--source-dir", source_dir, "the source tree (for the suite)")->required();
  app.add_option("--commits", sizes, "range sizes, good end included (default 16 64 256)")
      ->check(CLI::Range(3, 4096));
  app.add_option("--position", position,
                 "where in each range the culprit is, as a fraction of its length")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--effect", effect, "how much slower the culprit makes each request (0.2: 20 %)")
      ->check(CLI::Range(0.02, 5.0))
      ->capture_default_str();
  app.add_option("--max-repetitions", max_repetitions,
                 "a side, for an undecided step measured again (0: the suite's budget)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--timeout-minutes", timeout_minutes, "per range")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--json", json_out, "also write the results here");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/perfgate-bisect-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::cout << "perfgate bisection benchmark (work dir " << dir << ")\n";
  Lab lab(bin_dir, dir);
  if (!lab.Start(source_dir, "", /*confirm=*/false, "tests/bench/bisect/suite.yaml")) return 1;
  std::vector<RangeResult> results;
  for (int n : sizes) {
    results.push_back(perfgate::bench::BisectRange(lab, n, position, effect, max_repetitions,
                                                   absl::Minutes(timeout_minutes)));
  }

  std::cout << absl::StrFormat("\n%8s %8s %6s %9s %7s %6s %11s %9s %9s %13s %9s\n", "commits",
                               "culprit", "found", "measured", "floor", "bound", "remeasured",
                               "agent s", "wall s", "linear-scan s", "ratio");
  nlohmann::json out = nlohmann::json::array();
  int failures = 0;
  for (const RangeResult& r : results) {
    const double per_step = r.measured ? r.agent_seconds / r.measured : 0;
    const double linear = per_step * (r.commits - 1);
    std::cout << absl::StrFormat("%8d %8d %6s %9d %7d %6d %11d %9.0f %9.0f %13.0f %9.2f\n",
                                 r.commits, r.culprit,
                                 !r.found   ? "NO"
                                 : r.spread ? "spread"
                                            : "yes",
                                 r.measured, r.floor, r.bound, r.remeasured, r.agent_seconds,
                                 r.wall_seconds, linear, linear > 0 ? r.agent_seconds / linear : 0);
    failures += !r.found || r.spread;
    out.push_back({{"commits", r.commits},
                   {"culprit", r.culprit},
                   {"found", r.found},
                   {"spread", r.spread},
                   {"state", r.state},
                   {"message", r.message},
                   {"measured_steps", r.measured},
                   {"skipped_steps", r.skipped},
                   {"remeasured_steps", r.remeasured},
                   {"floor_steps", r.floor},
                   {"bound_steps", r.bound},
                   {"agent_seconds", r.agent_seconds},
                   {"wall_seconds", r.wall_seconds},
                   {"linear_scan_agent_seconds", linear}});
  }
  std::cout << "found: the culprit, alone (spread: called part of a spread change, which this "
               "range's is not); floor: ceil(log2(commits - 1)) steps, one per halving; bound: "
               "floor + 2 (the ends, "
               "and the culprit against its parent); ratio: agent time / a linear scan's\n";
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return failures == 0 ? 0 : 1;
}
