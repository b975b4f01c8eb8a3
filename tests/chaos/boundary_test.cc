// The fault matrix (issue 17), its boundary rows: a process killed (SIGKILL, by a failpoint,
// common/fault/failpoint.h) at the exact moment no timing could hit:
//   - the controller between CompleteAttempt's commit and its reply: the agent retries the
//     completion against the restarted controller, which answers the replay; one attempt;
//   - the controller between storing a log batch and replying: the agent sends the batch again;
//     every line once;
//   - the controller between SubmitRun's commit and its reply: the CLI retries with its request
//     id; one run;
//   - the controller between accepting an attempt and replying: the attempt still runs once;
//   - the agent between a log batch's upload and its journal noting it: the restarted agent
//     sends it again; every line once per attempt.
// After each: the run ended; no line lost or duplicated (per attempt, seqs 0..n-1 once).
#include <stdlib.h>

#include <future>
#include <map>

#include "tests/chaos/chaos_support.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

constexpr int kBoundaryJobLines = 40;

class BoundaryTest : public ClusterTest {
 protected:
  v1::Run SubmitLines() {
    return SubmitCommand(*stub_, "for i in $(seq 1 " + std::to_string(kBoundaryJobLines) +
                                     "); do echo line-$i; sleep 0.05; done");
  }
  // The controller killed by its failpoint, then started again on its port without it.
  void WaitForDeathAndRestartController() {
    ASSERT_TRUE(WaitUntil([&] { return !controller_->process().Running(); }, absl::Seconds(30)))
        << "the failpoint was never reached";
    EXPECT_NE(controller_->process().Log().find("failpoint reached"), std::string::npos);
    const int port = controller_->grpc_port();
    ControllerOptions o;
    o.grpc_port = port;
    StartController(o);
  }
  // A controller armed at `point` and one agent; a counting job submitted, the controller killed
  // at the point and started again: the run must succeed with every line once.
  v1::Run RunThroughAKilledController(const std::string& point) {
    {
      ArmedFailpoints armed(point);
      StartController();
    }
    StartAgent("a1");
    v1::Run run = SubmitLines();
    WaitForDeathAndRestartController();
    v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(60));
    EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
    if (done.state() == v1::RUN_STATE_SUCCEEDED) ExpectEveryLineOnce(done);
    return done;
  }
  // Every attempt's chunks are seqs 0..n-1, once each; the last attempt has every line.
  void ExpectEveryLineOnce(const v1::Run& done) {
    const auto logs = RunLogs(*stub_, done.id());
    std::map<int64_t, std::vector<int64_t>> seqs;
    for (const auto& c : logs) seqs[c.attempt_id()].push_back(c.seq());
    for (auto& [a, s] : seqs) {
      std::sort(s.begin(), s.end());
      for (size_t i = 0; i < s.size(); ++i)
        ASSERT_EQ(s[i], static_cast<int64_t>(i)) << "attempt " << a << ": lost or duplicated";
    }
    const auto& attempts = done.jobs(0).attempts();
    EXPECT_EQ(NumberedLines(AttemptStdout(logs, attempts[attempts.size() - 1].id())),
              Range(1, kBoundaryJobLines));
  }
};

TEST_F(BoundaryTest, ControllerKilledBetweenCompleteAttemptsCommitAndReply) {
  v1::Run done = RunThroughAKilledController("controller.complete_attempt.after_commit");
  ASSERT_EQ(done.jobs(0).attempts_size(), 1) << "the completion was stored once, replayed once";
  // The agent is free again: a second run goes through.
  EXPECT_EQ(WaitForRunEnd(*stub_, SubmitCommand(*stub_, "true").id()).state(),
            v1::RUN_STATE_SUCCEEDED);
}

TEST_F(BoundaryTest, ControllerKilledBetweenStoringALogBatchAndReplying) {
  v1::Run done = RunThroughAKilledController("controller.upload_log.after_commit@3");
  EXPECT_EQ(done.jobs(0).attempts_size(), 1);
}

TEST_F(BoundaryTest, ControllerKilledBetweenAcceptingAnAttemptAndReplying) {
  RunThroughAKilledController("controller.accept_attempt.after_commit");
}

TEST_F(BoundaryTest, ControllerKilledBetweenSubmitRunsCommitAndReplyMakesOneRun) {
  {
    ArmedFailpoints armed("controller.submit_run.after_commit");
    StartController();
  }
  auto submit = std::async(std::launch::async, [&] {
    std::string out;
    int code = Cli({"run", "submit", "--command", "true"}, &out);
    return std::make_pair(code, out);
  });
  ASSERT_NO_FATAL_FAILURE(WaitForDeathAndRestartController());
  auto [code, out] = submit.get();
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("retrying submission cli-"), std::string::npos) << out;
  v1::ListRunsResponse runs;
  ASSERT_TRUE(stub_->ListRuns(Ctx().get(), v1::ListRunsRequest(), &runs).ok());
  EXPECT_EQ(runs.runs_size(), 1) << "the retry found the committed run";
}

TEST_F(BoundaryTest, AgentKilledBetweenALogUploadAndItsJournalNotingIt) {
  StartController();
  {
    ArmedFailpoints armed("agent.upload_log.before_ack@2");
    StartAgent("a1");
  }
  v1::Run run = SubmitLines();
  ASSERT_TRUE(WaitUntil([&] { return !agents_["a1"]->process().Running(); }, absl::Seconds(30)))
      << "the failpoint was never reached";
  StartAgent("a1");  // same work dir: its journal still holds the batch the controller has
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  ExpectEveryLineOnce(done);
}

}  // namespace
}  // namespace perfgate::testing
