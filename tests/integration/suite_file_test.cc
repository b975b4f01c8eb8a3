// Suites kept in the repository (`perfgate project add --suite-path`): a webhook's run starts as
// one suite_file job, a real agent reads the file from its mirror at the commit, and the
// controller adds the file's jobs to the run; a commit whose file is broken fails the run with the
// file's line, and the check run says so. Reports are checked by Prism as in forge_test.cc.
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/benchmark_fixture.h"
#include "tests/integration/forge_fixture.h"

namespace perfgate::testing {
namespace {

constexpr char kRepoSuite[] = R"y(name: whatever-the-file-says
jobs:
  - name: tiny
    benchmark:
      build:
        commands: ["test -f .perfgate/suite.yaml"]
      workload:
        duration: 1s
        repetitions: 5
        command:
          run: >-
            echo '{"measurements": [{"name": "op.latency", "value": 1.5, "unit": "ms"}]}'
)y";

class SuiteFileTest : public ForgeTest {
 protected:
  // A commit of the repository at dir_/app with `suite` as .perfgate/suite.yaml.
  std::string CommitSuite(const std::string& suite) {
    const std::string repo = dir_ + "/app";
    if (access((repo + "/.git").c_str(), F_OK) != 0) {
      Sh("git init -q -b master " + repo + " && git -C " + repo +
         " config user.email t@x && git -C " + repo + " config user.name t");
    }
    std::filesystem::create_directories(repo + "/.perfgate");
    std::ofstream(repo + "/.perfgate/suite.yaml") << suite;
    Sh("cd " + repo + " && git add -A && git commit -q -m suite");
    return ShOut("git -C " + repo + " rev-parse HEAD");
  }
  std::string JobMessage(const v1::Run& run, const std::string& job) {
    for (const auto& j : run.jobs())
      if (j.name() == job) return j.message();
    return "(no job " + job + ")";
  }
};

TEST_F(SuiteFileTest, RepositorySuitesAreReadAtTheCommitAndABrokenOneFailsWithItsLine) {
  StartForgeController();
  StartAgent("a1");
  const std::string good = CommitSuite(kRepoSuite);
  std::string out;
  ASSERT_EQ(Cli({"project", "add", "app", "--forge", "github", "--repository", kRepo,
                 "--suite-path", "perf=.perfgate/suite.yaml", "--clone-url", dir_ + "/app"},
                &out),
            0)
      << out;
  EXPECT_TRUE(absl::StrContains(out, ".perfgate/suite.yaml in the repository")) << out;

  json push = GitHubExample("push", "", 4);
  push["after"] = good;
  Answer a = Deliver("push", push, "sf-push-1");
  ASSERT_EQ(a.status, 202) << a.body.dump();
  ASSERT_EQ(Runs(a).size(), 1u);
  const int64_t base = Runs(a)[0];
  ASSERT_TRUE(IsTerminal(WaitForRunEnd(*stub_, base, absl::Seconds(90)).state()));
  v1::Run run = GetRun(base);
  ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.DebugString();
  EXPECT_EQ(run.suite_name(), "perf") << "named after the project's entry, not the file";
  ASSERT_EQ(run.jobs_size(), 2) << run.DebugString();
  EXPECT_EQ(run.jobs(0).name(), "suite-file");
  EXPECT_EQ(run.jobs(1).name(), "tiny");
  EXPECT_EQ(run.jobs(1).expanded_from_job_id(), run.jobs(0).id());
  EXPECT_EQ(run.jobs(1).spec().benchmark().build().repository(), dir_ + "/app")
      << "a build without a repository builds the suite's own";
  EXPECT_EQ(run.jobs(1).state(), v1::JOB_STATE_SUCCEEDED) << run.jobs(1).message();

  // A rerun reads the suite again: the same two jobs, not the added one twice.
  ASSERT_EQ(Cli({"-o", "json", "run", "rerun", std::to_string(base)}, &out), 0) << out;
  const int64_t again = std::stoll(json::parse(out)["id"].get<std::string>());
  ASSERT_TRUE(IsTerminal(WaitForRunEnd(*stub_, again, absl::Seconds(90)).state()));
  EXPECT_EQ(GetRun(again).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(GetRun(again).jobs_size(), 2) << GetRun(again).DebugString();

  // A pull request whose suite file has a typo: the run fails naming the file's line, not retried,
  // and the check run completes as a failure that says why.
  const std::string broken = CommitSuite(
      absl::StrReplaceAll(kRepoSuite, {{"        repetitions: 5", "        repetitons: 5"}}));
  json pr = PullRequest("opened");
  pr["pull_request"]["head"]["sha"] = broken;
  Answer opened = Deliver("pull_request", pr, "sf-pr-1");
  ASSERT_EQ(Runs(opened).size(), 1u) << opened.body.dump();
  const int64_t cand = Runs(opened)[0];
  ASSERT_TRUE(IsTerminal(WaitForRunEnd(*stub_, cand, absl::Seconds(60)).state()));
  v1::Run failed = GetRun(cand);
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  ASSERT_EQ(failed.jobs_size(), 1);
  EXPECT_EQ(failed.jobs(0).attempts_size(), 1) << "the commit's file will not change: no retry";
  const std::string why = JobMessage(failed, "suite-file");
  EXPECT_TRUE(absl::StrContains(why,
                                ".perfgate/suite.yaml:9:9: jobs[0].benchmark.workload."
                                "repetitons: unknown key"))
      << why;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& e :
             proxy_->Sent("PATCH", std::string("/repos/") + kRepo + "/check-runs/")) {
          json b = json::parse(e.body);
          if (b["external_id"] == std::to_string(cand) && b["conclusion"] == "failure")
            return absl::StrContains(b["output"]["title"].get<std::string>(), "repetitons");
        }
        return false;
      },
      absl::Seconds(30)))
      <<
      [&] {
        std::string all;
        for (const auto& e : proxy_->Sent("PATCH", std::string("/repos/") + kRepo + "/check-runs/"))
          all += e.body.substr(0, 400) + "\n";
        return all;
      }();
  for (const auto& e : proxy_->Exchanges())
    EXPECT_LT(e.status, 400) << e.method << " " << e.path << ": " << e.answer;

  // A commit without the file fails the same way, naming the path.
  Sh("cd " + dir_ + "/app && git rm -q .perfgate/suite.yaml && git commit -q -m gone");
  pr["pull_request"]["head"]["sha"] = ShOut("git -C " + dir_ + "/app rev-parse HEAD");
  Answer gone = Deliver("pull_request", pr, "sf-pr-2");
  ASSERT_EQ(Runs(gone).size(), 1u) << gone.body.dump();
  ASSERT_TRUE(IsTerminal(WaitForRunEnd(*stub_, Runs(gone)[0], absl::Seconds(60)).state()));
  EXPECT_TRUE(absl::StrContains(JobMessage(GetRun(Runs(gone)[0]), "suite-file"),
                                "has no file .perfgate/suite.yaml"))
      << GetRun(Runs(gone)[0]).DebugString();
}

}  // namespace
}  // namespace perfgate::testing
