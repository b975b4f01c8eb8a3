// The fault matrix (issue 17), its result and profile rows: a benchmark job (the sample target
// under load, three repetitions, a CPU profile of each) with a process killed by a failpoint
// (common/fault/failpoint.h) where no timing could hit:
//   - the controller between storing a results batch and replying: the agent sends the batch
//     again to the restarted controller, which skips what it holds;
//   - the controller between storing a profile blob's chunk and replying: the chunk is sent
//     again; the blob is stored once, whole (its SHA-256 checked on the last chunk);
//   - the agent between a results upload and its journal noting it: the attempt is lost with
//     its agent and the job runs again on the restarted one;
//   - the embedded PostgreSQL (kill -9) right after a results batch committed, the controller
//     held there by a stopping failpoint and continued after the kill.
// After each: the run succeeded; the results the analysis reads are one attempt's repetitions
// 1..3, each once with each measurement once; one CPU profile per repetition, each readable.
#include <signal.h>
#include <stdlib.h>

#include <map>
#include <set>

#include "tests/chaos/chaos_support.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

constexpr char kSuite[] = R"yaml(
name: it-upload-boundaries
project: it
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands: ["true"]
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "exec $TARGET --listen {host}:{port:api} --threads 4 $(cat {srcdir}/flags)"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 3
        pause: 0s
        http:
          target: "http://{host}:{port:api}"
          rate: 100
          connections: 4
          requests: [{name: get, path: /api/items/7}]
      observe:
        profiles:
          - {service: api, url: "http://{host}:{port:api}/debug/pprof", cpu: 1s}
)yaml";

class UploadBoundaryTest : public BenchmarkTest {
 protected:
  // Submits the suite as a baseline, not waiting (a process is about to die); its run id.
  int64_t SubmitSuite() { return Submit(WriteSuite("uploads", kSuite), commit_, -1); }

  // A controller armed at `point`, one agent, the suite; the controller killed there and
  // started again on its port without it; the run must end well.
  void RunThroughAKilledController(const std::string& point) {
    {
      ArmedFailpoints armed(point);
      StartController();
    }
    StartAgent("a1");
    const int64_t run = SubmitSuite();
    ASSERT_GT(run, 0);
    ASSERT_TRUE(WaitUntil([&] { return !controller_->process().Running(); }, absl::Seconds(90)))
        << "the failpoint was never reached";
    EXPECT_NE(controller_->process().Log().find("failpoint reached"), std::string::npos);
    ControllerOptions o;
    o.grpc_port = controller_->grpc_port();
    StartController(o);
    WaitForSuccess(run);
    ExpectEachRepetitionAndProfileOnce(run);
  }

  void ExpectEachRepetitionAndProfileOnce(int64_t run) {
    const v1::RunResults res = Results(run);
    ASSERT_EQ(res.jobs_size(), 1);
    std::vector<int> reps;
    for (const v1::RepetitionResult& r : res.jobs(0).repetitions()) {
      reps.push_back(r.repetition());
      std::set<std::string> names;
      for (const auto& m : r.measurements())
        EXPECT_TRUE(names.insert(m.name()).second)
            << "repetition " << r.repetition() << ": " << m.name() << " twice";
      EXPECT_TRUE(names.count("http.latency.p50")) << r.DebugString();
    }
    std::sort(reps.begin(), reps.end());
    EXPECT_EQ(reps, (std::vector<int>{1, 2, 3})) << res.DebugString();

    v1::ListProfilesRequest lreq;
    lreq.set_run_id(run);
    v1::ListProfilesResponse profiles;
    {
      auto ctx = Ctx();
      ASSERT_TRUE(stub_->ListProfiles(ctx.get(), lreq, &profiles).ok());
    }
    std::map<int, int> per_rep;
    for (const v1::ProfileRef& p : profiles.profiles()) {
      if (p.kind() != "cpu") continue;
      ++per_rep[p.repetition()];
      // Readable whole: the controller parses it for its top functions.
      v1::GetProfileTopRequest t;
      t.set_profile_id(p.id());
      v1::ProfileTop top;
      auto ctx = Ctx();
      grpc::Status s = stub_->GetProfileTop(ctx.get(), t, &top);
      EXPECT_TRUE(s.ok()) << "profile " << p.id() << ": " << s.error_message();
    }
    EXPECT_EQ(per_rep, (std::map<int, int>{{1, 1}, {2, 1}, {3, 1}})) << profiles.DebugString();
  }

  void SetUp() override {
    BenchmarkTest::SetUp();
    commit_ = Commit("--added-latency 1ms");
  }
  std::string commit_;
};

TEST_F(UploadBoundaryTest, ControllerKilledBetweenStoringResultsAndReplying) {
  RunThroughAKilledController("controller.upload_results.after_commit");
}

TEST_F(UploadBoundaryTest, ControllerKilledBetweenStoringAProfileChunkAndReplying) {
  RunThroughAKilledController("controller.upload_blob.after_commit@2");
}

TEST_F(UploadBoundaryTest, AgentKilledBetweenAResultsUploadAndItsJournalNotingIt) {
  StartController();
  {
    ArmedFailpoints armed("agent.upload_results.before_ack");
    StartAgent("a1");
  }
  const int64_t run = SubmitSuite();
  ASSERT_GT(run, 0);
  ASSERT_TRUE(WaitUntil([&] { return !agents_["a1"]->process().Running(); }, absl::Seconds(90)))
      << "the failpoint was never reached";
  StartAgent("a1");  // same work dir and journal
  WaitForSuccess(run);
  ExpectEachRepetitionAndProfileOnce(run);
}

TEST_F(UploadBoundaryTest, PostgresKilledRightAfterAResultsBatchCommitted) {
  ControllerOptions co;
  co.data_dir = dir_ + "/controller";
  {
    ArmedFailpoints armed("controller.upload_results.after_commit=stop");
    StartController(co);
  }
  StartAgent("a1");
  const int64_t run = SubmitSuite();
  ASSERT_GT(run, 0);
  ASSERT_GT(KillPostgresWhileStopped(controller_->process().pid(), co.data_dir + "/pg",
                                     absl::Seconds(90)),
            0);
  // (Calls fail while the server restarts: WaitForRunEnd retries them.)
  const v1::Run done = WaitForRunEnd(*stub_, run, absl::Seconds(150));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  ExpectEachRepetitionAndProfileOnce(run);
}

}  // namespace
}  // namespace perfgate::testing
