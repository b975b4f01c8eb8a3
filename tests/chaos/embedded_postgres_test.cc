// The fault matrix (issue 17), its PostgreSQL rows: the controller's private PostgreSQL, with
// the production settings (fsync on, synchronous commit), killed with kill -9 under a running
// job. The controller restarts it (crash recovery), says so in its log and metrics, and the run
// ends with every line exactly once; the API answers again without restarting the controller.
// And PostgreSQL killed at exact boundaries: the controller stopped by a failpoint (=stop) right
// after a commit (a claim and an accept, which commit without waiting for the disk; a log batch;
// a completion), the postmaster killed while it is stopped, the controller continued: whatever
// the crash kept, the run ends once, with every line of its completing attempt once.
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <set>

#include "tests/chaos/chaos_support.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

constexpr int kOutageJobLines = 200;

std::string Metrics(int http_port) {
  httplib::Client cli("127.0.0.1", http_port);
  auto r = cli.Get("/metrics");
  return r ? r->body : "";
}

TEST_F(ClusterTest, EmbeddedPostgresKilledMidJobIsRestartedAndTheRunEndsWithEveryLineOnce) {
  ControllerOptions co;
  co.data_dir = dir_ + "/controller";
  StartController(co);
  ASSERT_NE(controller_->grpc_port(), 0);
  StartAgent("a1");
  // 200 lines over about 10 s; the postmaster dies about 5 s in.
  v1::Run run = SubmitCommand(*stub_, "for i in $(seq 1 " + std::to_string(kOutageJobLines) +
                                          "); do echo line-$i; sleep 0.05; done");
  ASSERT_TRUE(WaitUntil([&] { return RunLogs(*stub_, run.id()).size() >= 5; }, absl::Seconds(30)));
  absl::SleepFor(absl::Seconds(3));
  const pid_t postmaster = Postmaster(co.data_dir + "/pg");
  ASSERT_GT(postmaster, 0);
  ASSERT_EQ(kill(postmaster, SIGKILL), 0);

  // While it is down the API says so and the controller stays up; then it answers again.
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  EXPECT_TRUE(controller_->process().Running());
  EXPECT_NE(Postmaster(co.data_dir + "/pg"), postmaster) << "a new postmaster";
  // Every line of the attempt that completed the job, once and in order.
  const auto& last = done.jobs(0).attempts(done.jobs(0).attempts_size() - 1);
  EXPECT_EQ(last.outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  EXPECT_EQ(NumberedLines(AttemptStdout(RunLogs(*stub_, run.id()), last.id())), Range(1, kOutageJobLines));
  std::string out;
  EXPECT_EQ(Cli({"run", "get", std::to_string(run.id())}, &out), 0) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;

  const std::string log = controller_->process().Log();
  EXPECT_NE(log.find("msg=\"private PostgreSQL died: restarting it"), std::string::npos) << log;
  EXPECT_NE(log.find("msg=\"private PostgreSQL restarted\""), std::string::npos) << log;
  const std::string metrics = Metrics(controller_->http_port());
  EXPECT_NE(metrics.find("perfgate_controller_postgres_restarts_total 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("perfgate_controller_postgres_up 1"), std::string::npos) << metrics;
  // And it stops cleanly, with its server.
  EXPECT_EQ(controller_->process().Terminate(), 0);
  EXPECT_EQ(Postmaster(co.data_dir + "/pg"), 0) << "the server stopped with the controller";
}

class PostgresAtABoundaryTest : public ClusterTest {
 protected:
  void KillPostgresRightAfter(const std::string& point) {
    ControllerOptions co;
    co.data_dir = dir_ + "/controller";
    {
      ArmedFailpoints armed(point + "=stop");
      StartController(co);
    }
    StartAgent("a1");
    v1::Run run = SubmitCommand(*stub_, "for i in $(seq 1 40); do echo line-$i; sleep 0.05; done");
    const pid_t postmaster = KillPostgresWhileStopped(controller_->process().pid(),
                                                      co.data_dir + "/pg", absl::Seconds(60));
    ASSERT_GT(postmaster, 0);
    v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(120));
    ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
    // The run's end can be read through a backend the killed postmaster left behind, before the
    // controller has noticed: wait (bounded) until it says the new server is up.
    EXPECT_TRUE(WaitUntil(
        [&] {
          return controller_->process().Log().find("msg=\"private PostgreSQL restarted\"") !=
                 std::string::npos;
        },
        absl::Seconds(30)))
        << controller_->process().Log();
    EXPECT_NE(Postmaster(co.data_dir + "/pg"), postmaster) << "a new postmaster";
    const auto& last = done.jobs(0).attempts(done.jobs(0).attempts_size() - 1);
    EXPECT_EQ(last.outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
    const auto logs = RunLogs(*stub_, run.id());
    EXPECT_EQ(NumberedLines(AttemptStdout(logs, last.id())), Range(1, 40));
    // No chunk twice in any attempt.
    std::map<int64_t, std::set<int64_t>> seqs;
    for (const auto& c : logs)
      EXPECT_TRUE(seqs[c.attempt_id()].insert(c.seq()).second)
          << "attempt " << c.attempt_id() << " chunk " << c.seq() << " twice";
    // (The run may have ended before the server is back: a completion was durable.)
    EXPECT_TRUE(WaitUntil(
        [&] {
          return controller_->process().Log().find("msg=\"private PostgreSQL restarted\"") !=
                 std::string::npos;
        },
        absl::Seconds(60)));
    EXPECT_NE(controller_->process().Log().find("failpoint: continued"), std::string::npos);
  }
};

TEST_F(PostgresAtABoundaryTest, KilledRightAfterAClaimCommitted) {
  KillPostgresRightAfter("controller.claim.after_commit");
}

TEST_F(PostgresAtABoundaryTest, KilledRightAfterAnAcceptCommitted) {
  KillPostgresRightAfter("controller.accept_attempt.after_commit");
}

TEST_F(PostgresAtABoundaryTest, KilledRightAfterALogBatchCommitted) {
  KillPostgresRightAfter("controller.upload_log.after_commit@2");
}

TEST_F(PostgresAtABoundaryTest, KilledRightAfterACompletionCommitted) {
  KillPostgresRightAfter("controller.complete_attempt.after_commit");
}

}  // namespace
}  // namespace perfgate::testing
