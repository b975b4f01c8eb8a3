// Failure injection with real processes: kill -9 of the agent and of the controller in the
// middle of a job, and a PostgreSQL restart under a running controller.
#include <signal.h>

#include <fstream>
#include <set>

#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

constexpr int kLines = 60;

std::string CountingJob(const std::string& pidfile) {
  // SIGPIPE is ignored so that the job outlives a killed agent: the restarted agent must find
  // and kill it.
  return "trap '' PIPE; echo $$ > " + pidfile + "; for i in $(seq 1 " + std::to_string(kLines) +
         "); do echo line-$i; sleep 0.05; done";
}

TEST_F(ClusterTest, AgentKill9MidJobLosesNoLineAndTheJobEndsCorrectly) {
  StartController();
  StartAgent("a1");
  std::string pidfile = JobDrop() + "/job.pid";
  v1::Run run = SubmitCommand(*stub_, CountingJob(pidfile));
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::Run r = GetRun(*stub_, run.id());
        if (r.jobs(0).attempts_size() == 0) return false;
        return NumberedLines(AttemptStdout(RunLogs(*stub_, run.id()), r.jobs(0).attempts(0).id())).size() >=
               5;
      },
      absl::Seconds(30)));
  int orphan = 0;
  std::ifstream(pidfile) >> orphan;
  ASSERT_GT(orphan, 0);
  agents_["a1"]->process().Kill9();
  ASSERT_EQ(kill(orphan, 0), 0) << "the job should still run while the agent is dead";
  unlink(pidfile.c_str());
  StartAgent("a1");  // same work dir: recovers its journal
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_NE(kill(orphan, 0), 0) << "the restarted agent must kill its orphan";
  ASSERT_EQ(done.jobs(0).attempts_size(), 2);
  EXPECT_EQ(done.jobs(0).attempts(0).outcome(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
  EXPECT_EQ(done.jobs(0).attempts(1).outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  auto logs = RunLogs(*stub_, run.id());
  // The first attempt: everything the agent read before it died, once, in order.
  std::vector<int> first = NumberedLines(AttemptStdout(logs, done.jobs(0).attempts(0).id()));
  ASSERT_GE(first.size(), 5u);
  EXPECT_EQ(first, Range(1, first.size()));
  // The retry: complete.
  EXPECT_EQ(NumberedLines(AttemptStdout(logs, done.jobs(0).attempts(1).id())), Range(1, kLines));
  // Chunk seqs per attempt have no gaps and no duplicates.
  std::map<int64_t, std::vector<int64_t>> seqs;
  for (const auto& c : logs) seqs[c.attempt_id()].push_back(c.seq());
  for (auto& [a, s] : seqs) {
    std::sort(s.begin(), s.end());
    for (size_t i = 0; i < s.size(); ++i)
      EXPECT_EQ(s[i], static_cast<int64_t>(i)) << "attempt " << a;
  }
}

TEST_F(ClusterTest, ControllerKill9MidJobLosesNoLineAndTheJobCompletesOnce) {
  StartController();
  int port = controller_->grpc_port();
  StartAgent("a1");
  std::string pidfile = JobDrop() + "/job.pid";
  v1::Run run = SubmitCommand(*stub_, CountingJob(pidfile));
  ASSERT_TRUE(WaitUntil([&] { return RunLogs(*stub_, run.id()).size() >= 5; }, absl::Seconds(30)));
  controller_->process().Kill9();
  // The job keeps running and spooling while no controller is up.
  ASSERT_TRUE(WaitUntil([&] { return std::ifstream(pidfile).good(); }, absl::Seconds(5)));
  absl::SleepFor(absl::Seconds(1));
  ControllerOptions o;
  o.grpc_port = port;  // the agent reconnects to the address it knows
  StartController(o);
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_EQ(done.jobs(0).attempts_size(), 1) << "the attempt survived the controller restart";
  EXPECT_EQ(NumberedLines(AttemptStdout(RunLogs(*stub_, run.id()), done.jobs(0).attempts(0).id())),
            Range(1, kLines));
}

TEST_F(ClusterTest, ControllerRecoversFromPostgresRestart) {
  StartController();
  StartAgent("a1");
  v1::Run before = SubmitCommand(*stub_, "echo before");
  ASSERT_EQ(WaitForRunEnd(*stub_, before.id()).state(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(TestPostgres::Get().server().Restart().ok());
  // The first calls after the restart may see the dead connections; the controller must
  // reconnect on its own and go on serving.
  v1::SubmitRunResponse resp;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::SubmitRunRequest req;
        req.mutable_spec()->add_jobs()->mutable_command()->set_command("echo after");
        auto ctx = Ctx();
        return stub_->SubmitRun(ctx.get(), req, &resp).ok();
      },
      absl::Seconds(30)));
  v1::Run after = WaitForRunEnd(*stub_, resp.run().id(), absl::Seconds(60));
  EXPECT_EQ(after.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(AttemptStdout(RunLogs(*stub_, after.id()), after.jobs(0).attempts(0).id()), "after\n");
  EXPECT_TRUE(controller_->process().Running());
}

}  // namespace
}  // namespace perfgate::testing
