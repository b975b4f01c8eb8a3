#include "agent/exec/command_runner.h"

#include <signal.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "common/process/subprocess.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::agent {
namespace {

class CommandRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = perfgate::testing::MakeTempDir("runner");
    v1::Assign a;
    a.set_attempt_id(7);
    a.set_epoch(8);
    a.set_commit("abc123");
    journal_ = *AttemptJournal::Create(dir_ + "/attempt", a);
  }
  std::string Output(v1::LogStream stream) {
    std::string out;
    auto chunks = journal_->Unacked(1 << 30);
    for (const auto& c : *chunks) {
      if (c.stream() == stream) out += c.data();
    }
    return out;
  }
  v1::CommandJob Job(const std::string& cmd, uint32_t timeout = 60, uint32_t grace = 2) {
    v1::CommandJob j;
    j.set_command(cmd);
    j.set_timeout_seconds(timeout);
    j.set_cancel_grace_seconds(grace);
    return j;
  }
  std::string dir_;
  std::unique_ptr<AttemptJournal> journal_;
};

TEST_F(CommandRunnerTest, CapturesStreamsEnvironmentAndExitCode) {
  CommandRunner r(*journal_, dir_ + "/work");
  v1::CommandJob job = Job("echo out-$FOO; echo err-$PERFGATE_COMMIT >&2; pwd; exit 3");
  (*job.mutable_env())["FOO"] = "bar";
  RunOutcome o = r.Run(job);
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(Output(v1::LOG_STREAM_STDOUT), "out-bar\n" + dir_ + "/work\n");
  EXPECT_EQ(Output(v1::LOG_STREAM_STDERR), "err-abc123\n");
  EXPECT_NE(Output(v1::LOG_STREAM_AGENT).find("ended: ATTEMPT_OUTCOME_FAILED exit_code=3"),
            std::string::npos);
}

TEST_F(CommandRunnerTest, LargeOutputArrivesCompleteAndInOrder) {
  CommandRunner r(*journal_, dir_);
  RunOutcome o = r.Run(Job("seq 1 200000"));
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_SUCCEEDED);
  std::string expect;
  for (int i = 1; i <= 200000; ++i) expect += std::to_string(i) + "\n";
  EXPECT_EQ(Output(v1::LOG_STREAM_STDOUT), expect);
  // Chunks end at line boundaries: no chunk splits a number.
  auto chunks = journal_->Unacked(1 << 30);
  for (const auto& c : *chunks) {
    if (c.stream() == v1::LOG_STREAM_STDOUT) {
      EXPECT_EQ(c.data().back(), '\n');
    }
  }
}

TEST_F(CommandRunnerTest, TimeoutKillsTheWholeGroupIncludingStubbornChildren) {
  CommandRunner r(*journal_, dir_);
  std::string pidfile = dir_ + "/child.pid";
  // The background child ignores SIGTERM, so only the SIGKILL after the grace stops it.
  RunOutcome o =
      r.Run(Job("sh -c 'trap \"\" TERM; echo $$ > " + pidfile + "; sleep 60' & sleep 60", 1, 1));
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(o.message, "timed out after 1s");
  int child = 0;
  std::ifstream(pidfile) >> child;
  ASSERT_GT(child, 0);
  EXPECT_TRUE(perfgate::testing::WaitUntil([&] { return kill(child, 0) != 0; }, absl::Seconds(5)))
      << "background child survived the attempt";
}

TEST_F(CommandRunnerTest, CancelStopsARunningCommand) {
  CommandRunner r(*journal_, dir_);
  std::thread canceller([&] {
    perfgate::testing::WaitUntil(
        [&] { return Output(v1::LOG_STREAM_STDOUT).find("started") != std::string::npos; },
        absl::Seconds(10));
    r.Cancel("operator asked");
  });
  absl::Time start = absl::Now();
  RunOutcome o = r.Run(Job("echo started; sleep 60"));
  canceller.join();
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_CANCELLED);
  EXPECT_EQ(o.message, "operator asked");
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST_F(CommandRunnerTest, LeftoverBackgroundProcessesDoNotOutliveTheJob) {
  CommandRunner r(*journal_, dir_);
  std::string pidfile = dir_ + "/bg.pid";
  RunOutcome o = r.Run(Job("sleep 60 & echo $! > " + pidfile + "; echo done"));
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_SUCCEEDED);
  int bg = 0;
  std::ifstream(pidfile) >> bg;
  ASSERT_GT(bg, 0);
  EXPECT_TRUE(perfgate::testing::WaitUntil([&] { return kill(bg, 0) != 0; }, absl::Seconds(5)));
}

TEST_F(CommandRunnerTest, MissingCommandIsAFailureNotACrash) {
  CommandRunner r(*journal_, dir_);
  RunOutcome o = r.Run(Job("definitely-not-a-command-xyz"));
  EXPECT_EQ(o.outcome, v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(o.exit_code, 127);
}

}  // namespace
}  // namespace perfgate::agent

namespace perfgate::agent {
namespace {

// A process that cannot get onto its test host is an error of Spawn naming the step, not a
// child that exits 125 for someone to puzzle over (agent/hosts/ places services this way).
TEST(SpawnPlacementTest, AChildThatCannotGetInIsAnErrorNamingTheStep) {
  common::SpawnOptions o;
  o.argv = {"/bin/true"};
  o.cgroup_procs = {"/nonexistent/cgroup.procs"};
  auto pid = common::Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(), "/bin/true: joining its cgroup: No such file or directory");
  o.cgroup_procs.clear();
  o.netns = "/proc/self/status";  // a file, not a namespace
  pid = common::Spawn(o);
  ASSERT_FALSE(pid.ok());
  // EINVAL as root (not a namespace), EPERM without CAP_SYS_ADMIN (an unprivileged container).
  EXPECT_TRUE(absl::StartsWith(pid.status().message(),
                               "/bin/true: entering network namespace /proc/self/status: "))
      << pid.status();
  o.netns = "/nonexistent/netns";
  EXPECT_EQ(common::Spawn(o).status().message(),
            "open /nonexistent/netns: No such file or directory");
}

}  // namespace
}  // namespace perfgate::agent
