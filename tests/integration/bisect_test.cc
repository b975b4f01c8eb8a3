// Bisection end to end (issue 19, docs/bisect.md): a real git repository of the sample target
// whose commits differ in its flags, a real agent that lists the range from its mirror and builds
// and measures each step's commits in turn, the real controller deciding each step from the
// stored comparison; the CLI, the Markdown and the page read back.
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "controller/bisect/bisect_plan.h"
#include "tests/harness/webhook_receiver.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

// One job; a commit that holds a file named `broken` does not build. Steps measure 6
// repetitions a side (the verdict's minimum: 3 rounds of 2, plus a spare each).
constexpr char kSuite[] = R"yaml(
name: it-bisect
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands:
          - "if [ -e broken ]; then echo 'error: this commit does not build' >&2; exit 2; fi"
          - "mkdir -p out && cp flags out/flags"
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "exec $TARGET --listen {host}:{port:api} --threads 16 $(cat {srcdir}/out/flags)"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        warmup: 1s
        duration: 1s
        repetitions: 2
        http:
          target: "http://{host}:{port:api}"
          rate: 200
          connections: 8
          max_generator_lag_p99: 250ms
          requests:
            - {name: list, path: /api/items}
      observe:
        profiles:
          - {service: api, url: "http://{host}:{port:api}/debug/pprof", cpu: 1s}
)yaml";

class BisectTest : public BenchmarkTest {
 protected:
  // Commits 1..n of the repository: `flags(i)` is commit i's flags; commit `broken` holds a file
  // that breaks the build. Returns the shas, [0] unused.
  std::vector<std::string> History(int n, const std::function<std::string(int)>& flags,
                                   int broken = 0) {
    std::vector<std::string> shas(1);
    for (int i = 1; i <= n; ++i) {
      const std::string f = flags(i);
      Commit(f);  // creates the repository on the first call
      if (i == broken) {
        Sh("cd " + repo_ +
           " && touch broken && git add broken && git commit -q --amend -m 'commit " +
           std::to_string(i) + ": " + f + " (does not build)'");
      } else {
        Sh("cd " + repo_ +
           " && (git rm -q --ignore-unmatch broken >/dev/null) && git commit -q "
           "--amend --allow-empty -m 'commit " +
           std::to_string(i) + ": " + f + "'");
      }
      shas.push_back(ShOut("git -C " + repo_ + " rev-parse HEAD"));
    }
    return shas;
  }

  v1::Bisection Get(int64_t id) {
    v1::GetBisectionRequest req;
    req.set_id(id);
    v1::Bisection b;
    auto ctx = Ctx();
    EXPECT_TRUE(stub_->GetBisection(ctx.get(), req, &b).ok());
    return b;
  }

  int64_t Started(const std::string& out) {
    auto j = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
    if (j.is_discarded() || !j.contains("id")) return 0;
    return std::stoll(j["id"].get<std::string>());
  }

  // Runs and jobs still queued or running anywhere.
  int OpenJobs() {
    v1::ListRunsRequest req;
    req.set_page_size(500);
    v1::ListRunsResponse resp;
    auto ctx = Ctx();
    EXPECT_TRUE(stub_->ListRuns(ctx.get(), req, &resp).ok());
    int open = 0;
    for (const auto& r : resp.runs()) open += !IsTerminal(r.state());
    return open;
  }
};

TEST_F(BisectTest, SixteenCommitsNarrowToTheOneThatAddedCpuWorkAndTheBrokenBuildIsSkipped) {
  StartController();
  StartAgent("a1");
  // Every commit sleeps 2 ms a request (a p50 steady to a percent or so); commit 11 also burns
  // 1 ms of CPU; commit 6 does not build.
  const std::vector<std::string> c = History(
      16,
      [](int i) { return i >= 11 ? "--added-latency 2ms --cpu-burn 1ms" : "--added-latency 2ms"; },
      6);
  const std::string suite = WriteSuite("bisect", kSuite);
  // What the steps measure: the suite's newest run (at the bad end, as a nightly baseline).
  Submit(suite, c[16], 0);

  std::string out;
  ASSERT_EQ(Cli({"bisect", "start", "--suite", "it-bisect", "--good", c[1], "--bad", c[16],
                 "--max-repetitions", "12", "--wait", "--timeout", "500s"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("first bad commit " + c[11].substr(0, 12)), std::string::npos) << out;
  ASSERT_EQ(Cli({"-o", "json", "bisect", "list"}, &out), 0) << out;
  auto list = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(list.is_discarded()) << out;
  const int64_t id = std::stoll(list["bisections"][0]["id"].get<std::string>());
  v1::Bisection b = Get(id);
  ASSERT_EQ(b.state(), v1::BISECTION_STATE_SUCCEEDED) << b.message();
  EXPECT_EQ(b.culprit(), c[11]) << b.message();
  EXPECT_EQ(b.commits_size(), 16) << "good and the 15 after it, from the agent's mirror";
  EXPECT_EQ(b.direction(), "regression");
  for (const auto& s : b.steps()) {
    if (s.commit() == c[6]) {
      EXPECT_EQ(s.outcome(), "skipped") << "commit 6 does not build";
      EXPECT_NE(s.note().find("build step"), std::string::npos) << s.note();
    }
    EXPECT_GT(s.agent_seconds(), 0);
  }
  // A pair measured again (undecided, or interrupted: docs/bisect.md) is one step of the plan.
  const controller::StepCounts steps = controller::CountSteps(b);
  EXPECT_LE(steps.pairs, 5) << "ceil(log2 15) + 1 measured steps: the ends and four halvings ("
                            << steps.again << " measured again)";
  EXPECT_GT(b.agent_seconds(), 0);
  // The culprit against its parent, with the function it added named by the profile diff.
  const v1::BisectionStep& last = *b.steps().rbegin();
  EXPECT_EQ(last.commit(), c[11]);
  EXPECT_EQ(last.against(), c[10]);
  EXPECT_EQ(b.culprit_run_id(), last.run_id());
  ASSERT_EQ(Cli({"bisect", "get", std::to_string(id), "--markdown"}, &out), 0) << out;
  for (const char* want : {"## perfgate bisection", "### Culprit", "commit 11", "BurnCpu",
                           "Against its parent: http.latency.p50", "### Steps"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }
  httplib::Client web("127.0.0.1", controller_->http_port());
  auto page = web.Get(absl::StrCat("/bisections/", id));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("BurnCpu"), std::string::npos);
  EXPECT_NE(page->body.find(c[11].substr(0, 12)), std::string::npos);
  EXPECT_EQ(web.Get(absl::StrCat("/bisections/", id, ".md"))->status, 200);
  EXPECT_EQ(OpenJobs(), 0);
}

TEST_F(BisectTest, BadRequestsAreRefusedByFieldAndCancellingLeavesNothingQueued) {
  StartController();
  StartAgent("a1");
  const std::vector<std::string> c =
      History(8, [](int i) { return i >= 5 ? "--added-latency 5ms" : "--added-latency 2ms"; });
  const std::string suite = WriteSuite("bisect", kSuite);
  Submit(suite, c[8], 0);
  std::string out;
  EXPECT_EQ(
      Cli({"bisect", "start", "--suite", "it-bisect", "--good", "--upload-pack=x", "--bad", c[8]},
          &out),
      2)
      << out;
  EXPECT_EQ(Cli({"bisect", "start", "--suite", "it-bisect", "--good=-x", "--bad", c[8]}, &out), 2)
      << out;
  EXPECT_NE(out.find("good: '-x' starts with -"), std::string::npos) << out;
  EXPECT_EQ(Cli({"bisect", "start", "--suite", "it-bisect", "--good", c[1], "--bad", c[8],
                 "--metric", "no.such.metric"},
                &out),
            2);
  EXPECT_NE(out.find("metric: job api of run"), std::string::npos) << out;
  EXPECT_EQ(Cli({"bisect", "start", "--suite", "nope", "--good", c[1], "--bad", c[8]}, &out), 2);
  EXPECT_NE(out.find("no succeeded run of suite 'nope'"), std::string::npos) << out;
  // An unknown commit fails the listing, saying so.
  ASSERT_EQ(Cli({"-o", "json", "bisect", "start", "--suite", "it-bisect", "--good", "deadbeef",
                 "--bad", c[8]},
                &out),
            0)
      << out;
  const int64_t unknown = Started(out);
  ASSERT_GT(unknown, 0) << out;
  EXPECT_EQ(Cli({"bisect", "watch", std::to_string(unknown), "--timeout", "60s"}, &out), 1) << out;
  EXPECT_NE(out.find("commit 'deadbeef' is not in"), std::string::npos) << out;

  // A real one, cancelled once its first step runs.
  ASSERT_EQ(
      Cli({"-o", "json", "bisect", "start", "--suite", "it-bisect", "--good", c[1], "--bad", c[8]},
          &out),
      0)
      << out;
  const int64_t id = Started(out);
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::Bisection b = Get(id);
        return !b.steps().empty() && b.steps(0).run_id() != 0;
      },
      absl::Seconds(60)))
      << Get(id).DebugString();
  ASSERT_EQ(Cli({"bisect", "cancel", std::to_string(id)}, &out), 0) << out;
  EXPECT_NE(out.find("cancelled"), std::string::npos) << out;
  EXPECT_EQ(Cli({"bisect", "watch", std::to_string(id), "--timeout", "30s"}, &out), 3) << out;
  EXPECT_TRUE(WaitUntil([&] { return OpenJobs() == 0; }, absl::Seconds(60)))
      << "a cancelled bisection leaves nothing queued or running";
  EXPECT_EQ(Get(id).state(), v1::BISECTION_STATE_CANCELLED);
  EXPECT_EQ(Cli({"bisect", "cancel", std::to_string(id)}, &out), 2) << out;
  EXPECT_NE(out.find("has finished"), std::string::npos) << out;
  // Nothing moves a cancelled bisection on.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(OpenJobs(), 0);
}

// A change point on main, end to end: ten nightly baselines (five before the change, five after;
// the night it landed covered four commits), the change point found by the analyser, bisected
// by the controller on its own because the project asks for it, its alert sent again naming the
// culprit. The change is spread over two commits (7 adds 2 ms a request, 9 another 2 ms), so the
// culprit is reported as carrying part of it, with the range the rest lies in.
TEST_F(BisectTest, AChangePointOnMainIsBisectedOnItsOwnAndASpreadChangeIsReportedAsARange) {
  WebhookReceiver hook;
  ControllerOptions co;
  // Ten baselines can show a step at p ~ 0.008 at best (2 of the 252 orders of five and five);
  // the default 0.001 waits for fourteen.
  co.extra_args = {"--alert-webhook-url",  hook.url(), "--analysis-poll", "1s",
                   "--change-point-max-p", "0.02"};
  StartController(co);
  StartAgent("a1");
  const std::vector<std::string> c = History(13, [](int i) {
    return absl::StrCat("--added-latency ", 2 + (i >= 7 ? 2 : 0) + (i >= 9 ? 2 : 0), "ms");
  });
  // The history needs no profiles (shorter runs); the median decides (the change is in it, and
  // only a deciding metric's change point is bisected on its own).
  std::string yaml = kSuite;
  yaml.erase(yaml.find("      observe:"));
  yaml += "analysis:\n  gate: [http.latency.p50]\n";
  const std::string suite = WriteSuite("nightly", yaml);
  std::string out;
  ASSERT_EQ(Cli({"project", "add", "acme", "--forge", "github", "--repository", "acme/sample",
                 "--suite", suite, "--bisect", "auto"},
                &out),
            0)
      << out;
  for (int i : {1, 2, 3, 4, 5, 9, 10, 11, 12, 13})
    SubmitKind(suite, c[i], "baseline", "main", {"--project", "acme"});

  // Found at the run of commit 9, bisected on its own (one bisection for the metrics that
  // changed together), and finished.
  v1::ListBisectionsRequest lreq;
  v1::ListBisectionsResponse bisections;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ctx = Ctx();
        return stub_->ListBisections(ctx.get(), lreq, &bisections).ok() &&
               bisections.bisections_size() > 0 &&
               bisections.bisections(0).state() >= v1::BISECTION_STATE_SUCCEEDED;
      },
      absl::Seconds(450)))
      << bisections.DebugString();
  ASSERT_EQ(bisections.bisections_size(), 1) << bisections.DebugString();
  const v1::Bisection& b = bisections.bisections(0);
  ASSERT_EQ(b.state(), v1::BISECTION_STATE_SUCCEEDED) << b.message();
  EXPECT_EQ(b.project(), "acme");
  EXPECT_EQ(b.good(), c[5]) << "the baseline before the change";
  EXPECT_EQ(b.bad(), c[9]) << "the first baseline after it";
  EXPECT_EQ(b.commits_size(), 5);
  EXPECT_EQ(b.metric(), "http.latency.p50");
  EXPECT_EQ(b.culprit(), c[7]) << b.message();
  EXPECT_TRUE(b.spread()) << b.message();
  EXPECT_EQ(b.range_first(), c[7]);
  EXPECT_EQ(b.range_last(), c[9]);
  EXPECT_NE(b.message().find("the change is spread"), std::string::npos) << b.message();
  const controller::StepCounts steps = controller::CountSteps(b);
  EXPECT_LE(steps.pairs, 4) << "the ends, two halvings, the culprit against its parent ("
                            << steps.again << " measured again)";

  // The change point and its siblings (the other metrics that moved at that run) name the
  // culprit, on the CLI and the page.
  v1::ListChangePointsRequest creq;
  v1::ListChangePointsResponse all;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->ListChangePoints(ctx.get(), creq, &all).ok());
  std::vector<v1::ChangePointRecord> cps;
  for (const auto& cp : all.change_points())
    if (cp.commit() == c[9]) cps.push_back(cp);
  ASSERT_FALSE(cps.empty()) << all.DebugString();
  const std::string culprit = absl::StrCat(c[7].substr(0, 12), " t <t@x>: commit 7");
  bool median = false;
  for (const auto& cp : cps) {
    median |= cp.metric() == "http.latency.p50";
    EXPECT_EQ(cp.gating(), cp.metric() == "http.latency.p50") << cp.metric();
    EXPECT_EQ(cp.bisection_id(), b.id()) << cp.metric();
    EXPECT_NE(cp.culprit().find(culprit), std::string::npos) << cp.culprit();
    EXPECT_NE(cp.culprit().find("part of the change"), std::string::npos) << cp.culprit();
  }
  EXPECT_TRUE(median) << all.DebugString();
  ASSERT_EQ(Cli({"changepoint", "list"}, &out), 0) << out;
  EXPECT_NE(out.find(absl::StrCat("bisection ", b.id(), ": ", culprit)), std::string::npos) << out;
  httplib::Client web("127.0.0.1", controller_->http_port());
  auto page = web.Get("/changepoints");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find(absl::StrCat("/bisections/", b.id())), std::string::npos);
  // Each of their alerts went out when the change point was found, and again naming the
  // culprit (JSON escapes the author's <email>: the culprit's sha says it).
  size_t before = 0, after = 0;
  EXPECT_TRUE(WaitUntil(
      [&] {
        before = after = 0;
        for (const auto& d : hook.Deliveries()) {
          if (d.body.find(c[9]) == std::string::npos) continue;
          ++(d.body.find(c[7].substr(0, 12)) == std::string::npos ? before : after);
        }
        return before == cps.size() && after == cps.size();
      },
      absl::Seconds(30)))
      << before << " first deliveries, " << after << " naming the culprit, of " << cps.size();
  EXPECT_EQ(OpenJobs(), 0);
}

}  // namespace
}  // namespace perfgate::testing
