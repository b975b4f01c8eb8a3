// Two controller replicas on one database: work submitted on one is dispatched by the other
// (woken by LISTEN/NOTIFY: the backstop poll is set to 10 minutes), a cancel on one stops a
// job running under the other, and a malformed notification is ignored.
#include <sys/stat.h>

#include <fstream>
#include <pqxx/pqxx>

#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

TEST_F(ClusterTest, ReplicasWakeEachOtherAndCancelAcrossReplicas) {
  ControllerOptions slow_poll;
  slow_poll.extra_args = {"--dispatch-poll", "10m"};
  StartController(slow_poll);  // replica A: the API the test talks to, no agents
  std::string dir_b = dir_ + "/replica-b";
  mkdir(dir_b.c_str(), 0755);
  ControllerOptions b = slow_poll;
  b.dsn = dsn_;
  ControllerProcess replica_b(dir_b, b);
  // The agent talks to replica B only.
  auto agent = std::make_unique<AgentProcess>("b-agent", replica_b.address(), dir_ + "/agent-b");
  ASSERT_TRUE(WaitUntil([&] { return AgentConnected("b-agent"); }, absl::Seconds(20)));

  // A notification that is not ours must not disturb anything.
  {
    pqxx::connection c(dsn_);
    pqxx::nontransaction nt(c);
    nt.exec("NOTIFY perfgate_events, 'stop:not-a-number:b-agent'");
    nt.exec("NOTIFY perfgate_events, 'stop:'");
  }

  v1::Run run = SubmitCommand(*stub_, "echo across replicas");
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(30));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << "replica B was not woken by A's submit";
  EXPECT_EQ(done.jobs(0).attempts(0).agent(), "b-agent");

  std::string pidfile = JobDrop() + "/job.pid";
  v1::Run long_run = SubmitCommand(*stub_, "echo $$ > " + pidfile + "; sleep 120");
  ASSERT_TRUE(
      WaitUntil([&] { return GetRun(*stub_, long_run.id()).state() == v1::RUN_STATE_RUNNING; },
                absl::Seconds(30)));
  const pid_t pid = WaitForPidFile(pidfile, absl::Seconds(10));
  ASSERT_GT(pid, 0);
  v1::CancelRunRequest req;
  req.set_id(long_run.id());
  v1::Run after;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->CancelRun(ctx.get(), req, &after).ok());
  EXPECT_EQ(WaitForRunEnd(*stub_, long_run.id(), absl::Seconds(30)).state(),
            v1::RUN_STATE_CANCELLED);
  EXPECT_NE(kill(pid, 0), 0) << "the job survived a cancel sent through the other replica";
  EXPECT_TRUE(controller_->process().Running());
  EXPECT_TRUE(replica_b.process().Running()) << replica_b.process().Log();
}

}  // namespace
}  // namespace perfgate::testing
