// The fault matrix (issue 17): the agent's spool disk fills up under a job. Its output can no
// longer be kept, so the attempt must not pass as complete: it ends as an infrastructure
// failure saying why, and the run does not succeed with lines missing. Needs root (a small
// tmpfs is mounted for the agent's work directory); SKIPPED with the reason otherwise.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

class SpoolFullTest : public ClusterTest {
 protected:
  void TearDown() override {
    ClusterTest::TearDown();  // the agent first: it has files open there
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
  }
  std::string mounted_;
};

TEST_F(SpoolFullTest, AFullSpoolEndsTheAttemptAsAnInfrastructureFailureSayingWhy) {
  // The agent's own work directory (its log file stays outside, next to it).
  const std::string disk = dir_ + "/agent-a1";
  std::filesystem::create_directories(disk);
  if (geteuid() != 0 || mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=2m,mode=0755") != 0)
    GTEST_SKIP() << "mounting a small tmpfs for the agent's spool needs root (" << strerror(errno)
                 << ")";
  mounted_ = disk;
  StartController();
  StartAgent("a1");
  // About 4 MB of output lines into a 2 MB disk (the padding made once: a command substitution
  // per line cost 40,000 forks and most of a minute and a half).
  v1::SubmitRunRequest req;
  v1::JobSpec* job = req.mutable_spec()->add_jobs();
  job->set_name("chatty");
  job->set_max_attempts(1);
  job->mutable_command()->set_command(
      "pad=$(printf '%090d' 0); for i in $(seq 1 40000); do echo \"line-$i $pad\"; done");
  v1::SubmitRunResponse resp;
  ASSERT_TRUE(stub_->SubmitRun(Ctx().get(), req, &resp).ok());
  v1::Run done = WaitForRunEnd(*stub_, resp.run().id(), absl::Seconds(120));
  ASSERT_EQ(done.state(), v1::RUN_STATE_FAILED) << done.DebugString();
  ASSERT_EQ(done.jobs(0).attempts_size(), 1);
  const v1::Attempt& a = done.jobs(0).attempts(0);
  EXPECT_EQ(a.outcome(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
  EXPECT_NE(a.message().find("the agent could not spool the attempt's output"), std::string::npos)
      << a.message();
  EXPECT_NE(a.message().find("No space left on device"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find("earlier outcome: ATTEMPT_OUTCOME_SUCCEEDED"), std::string::npos)
      << a.message();
}

}  // namespace
}  // namespace perfgate::testing
