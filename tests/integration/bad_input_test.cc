// Bad input at the API and gateway gets a clear error and changes nothing.
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

int64_t RunCount(v1::Controller::Stub& stub, const std::string& token = "") {
  v1::ListRunsRequest req;
  req.set_page_size(500);
  v1::ListRunsResponse resp;
  auto ctx = Ctx(token);
  EXPECT_TRUE(stub.ListRuns(ctx.get(), req, &resp).ok());
  return resp.runs_size();
}

TEST_F(ClusterTest, MissingOrWrongTokenIsUnauthenticated) {
  std::string tokens = dir_ + "/tokens";
  std::ofstream(tokens) << "ci submitter s3cret-0123456789ab\n";
  chmod(tokens.c_str(), 0600);
  ControllerOptions o;
  o.api_token_file = tokens;
  StartController(o);
  v1::ListRunsResponse resp;
  for (std::string token : {"", "wrong"}) {
    auto ctx = Ctx(token);
    grpc::Status s = stub_->ListRuns(ctx.get(), v1::ListRunsRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
  }
  v1::SubmitRunRequest req;
  req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
  v1::SubmitRunResponse sresp;
  auto ctx = Ctx("");
  EXPECT_EQ(stub_->SubmitRun(ctx.get(), req, &sresp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RunCount(*stub_, "s3cret-0123456789ab"), 0) << "a refused submit stores nothing";
  {
    v1::WatchRunRequest wreq;
    wreq.set_id(1);
    auto wctx = Ctx("wrong");
    auto reader = stub_->WatchRun(wctx.get(), wreq);
    v1::RunEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  std::string out;
  EXPECT_EQ(Cli({"--token-file", tokens, "run", "list"}, &out), 0) << out;
  EXPECT_EQ(Cli({"run", "list"}, &out), 2) << out;
  EXPECT_NE(out.find("missing 'authorization"), std::string::npos) << out;
}

TEST_F(ClusterTest, MalformedRequestsAreRefusedWithTheFieldNamed) {
  StartController();
  v1::Run resp;
  {
    v1::GetRunRequest req;
    auto ctx = Ctx();
    grpc::Status s = stub_->GetRun(ctx.get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("id"), std::string::npos);
  }
  {
    v1::GetRunRequest req;
    req.set_id(777);
    auto ctx = Ctx();
    EXPECT_EQ(stub_->GetRun(ctx.get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::CancelRunRequest req;
    req.set_id(777);
    auto ctx = Ctx();
    EXPECT_EQ(stub_->CancelRun(ctx.get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::SubmitRunRequest req;  // no jobs
    v1::SubmitRunResponse sresp;
    auto ctx = Ctx();
    grpc::Status s = stub_->SubmitRun(ctx.get(), req, &sresp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("spec.jobs"), std::string::npos) << s.error_message();
  }
  {
    v1::SubmitRunRequest req;
    req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
    req.mutable_spec()->add_jobs()->mutable_command()->set_command("");
    v1::SubmitRunResponse sresp;
    auto ctx = Ctx();
    grpc::Status s = stub_->SubmitRun(ctx.get(), req, &sresp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("spec.jobs[1].command.command"), std::string::npos)
        << s.error_message();
  }
  {
    v1::SubmitRunRequest req;  // larger than the server accepts at all
    req.mutable_spec()->add_jobs()->mutable_command()->set_command(std::string(9 << 20, 'x'));
    v1::SubmitRunResponse sresp;
    auto ctx = Ctx();
    EXPECT_EQ(stub_->SubmitRun(ctx.get(), req, &sresp).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  {
    v1::ListRunsRequest req;
    req.set_page_token("not-a-token");
    v1::ListRunsResponse lresp;
    auto ctx = Ctx();
    EXPECT_EQ(stub_->ListRuns(ctx.get(), req, &lresp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::DrainAgentRequest req;
    req.set_name("ghost");
    v1::Agent aresp;
    auto ctx = Ctx();
    EXPECT_EQ(stub_->DrainAgent(ctx.get(), req, &aresp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(RunCount(*stub_), 0) << "nothing refused may be stored";
  std::string out;
  std::string bad = dir_ + "/bad.yaml";
  std::ofstream(bad) << "jobs:\n  - command: echo\n    timeout: forever\n";
  EXPECT_EQ(Cli({"run", "submit", "--suite", bad}, &out), 2);
  EXPECT_NE(out.find("bad.yaml:3:14: jobs[0].timeout"), std::string::npos) << out;
  EXPECT_NE(Cli({"run", "get", "abc"}, &out), 0) << out;
  EXPECT_NE(out.find("ID"), std::string::npos) << out;
}

TEST_F(ClusterTest, GatewayRefusesOversizedAndUnknownUploads) {
  StartController();
  StartAgent("a1");
  auto gw = controller_->GatewayStub();
  v1::Run run = SubmitCommand(*stub_, "echo ok");
  v1::Run done = WaitForRunEnd(*stub_, run.id());
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  const auto& attempt = done.jobs(0).attempts(0);
  size_t before = RunLogs(*stub_, run.id()).size();
  v1::UploadLogResponse uresp;
  {
    v1::UploadLogRequest req;
    req.set_attempt_id(attempt.id());
    req.set_epoch(attempt.epoch());
    auto* c = req.add_chunks();
    c->set_seq(1000);
    c->set_stream(v1::LOG_STREAM_STDOUT);
    c->set_data(std::string(300 * 1024, 'x'));
    auto ctx = Ctx();
    grpc::Status s = gw->UploadLog(ctx.get(), req, &uresp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("chunks[0].data"), std::string::npos) << s.error_message();
  }
  {
    v1::UploadLogRequest req;
    req.set_attempt_id(attempt.id());
    req.set_epoch(attempt.epoch());
    req.add_chunks()->set_seq(1001);  // stream unspecified
    auto ctx = Ctx();
    EXPECT_EQ(gw->UploadLog(ctx.get(), req, &uresp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::UploadLogRequest req;
    req.set_attempt_id(987654);
    req.set_epoch(1);
    auto ctx = Ctx();
    EXPECT_EQ(gw->UploadLog(ctx.get(), req, &uresp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::CompleteAttemptRequest req;
    req.set_attempt_id(attempt.id());
    req.set_epoch(attempt.epoch());
    v1::CompleteAttemptResponse cresp;
    auto ctx = Ctx();
    EXPECT_EQ(gw->CompleteAttempt(ctx.get(), req, &cresp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    req.set_outcome(v1::ATTEMPT_OUTCOME_FAILED);
    auto ctx2 = Ctx();
    EXPECT_EQ(gw->CompleteAttempt(ctx2.get(), req, &cresp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION)
        << "a finished attempt cannot be rewritten";
  }
  {
    // Results: every field is checked before anything is stored.
    auto upload = [&](std::function<void(v1::RepetitionResult*)> edit) {
      v1::UploadResultsRequest req;
      req.set_attempt_id(attempt.id());
      req.set_epoch(attempt.epoch());
      v1::RepetitionResult* r = req.add_results();
      r->set_repetition(1);
      auto* m = r->add_measurements();
      m->set_name("http.throughput");
      m->set_value(100);
      edit(r);
      v1::UploadResultsResponse resp;
      auto ctx = Ctx();
      return gw->UploadResults(ctx.get(), req, &resp);
    };
    struct Case {
      std::function<void(v1::RepetitionResult*)> edit;
      std::string want;
    } cases[] = {
        {[](v1::RepetitionResult* r) { r->set_repetition(0); }, "results[0].repetition"},
        {[](v1::RepetitionResult* r) { *r->add_measurements() = r->measurements(0); },
         "results[0].measurements[1].name: 'http.throughput' appears twice"},
        {[](v1::RepetitionResult* r) { r->mutable_measurements(0)->set_value(NAN); },
         "results[0].measurements[0].value: not a finite number"},
        {[](v1::RepetitionResult* r) { r->mutable_measurements(0)->set_name(""); },
         "results[0].measurements[0]: name must be"},
        {[](v1::RepetitionResult* r) {
           auto* h = r->add_histograms();
           h->set_name("h");
           h->mutable_histogram()->set_significant_digits(9);
         },
         "results[0].histograms[0]"},
        {[](v1::RepetitionResult* r) {
           auto* p = r->add_profiles();
           p->set_service("api");
           p->set_kind("heap");
           p->set_point("after");
           p->set_sha256("not-a-hash");
         },
         "results[0].profiles[0].sha256: want 64 lowercase hex digits"},
        {[](v1::RepetitionResult* r) {
           auto* p = r->add_profiles();
           p->set_service("api");
           p->set_kind("heap");
           p->set_point("after");
           p->set_sha256(std::string(64, 'a'));
         },
         "profiles[0].sha256: blob " + std::string(64, 'a') + " has not been uploaded whole"},
        {[](v1::RepetitionResult* r) { r->add_gaps()->set_reason("why"); },
         "results[0].gaps[0]: name must be"},
        {[](v1::RepetitionResult* r) {
           r->mutable_dbstats()->add_explains()->set_plan_json(std::string(2 << 20, 'x'));
         },
         "results[0].dbstats.explains[0].plan_json: at most 1 MiB"},
    };
    for (const auto& c : cases) {
      grpc::Status s = upload(c.edit);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.want;
      EXPECT_NE(s.error_message().find(c.want), std::string::npos) << s.error_message();
    }
    v1::GetRunResultsRequest req;
    req.set_run_id(run.id());
    v1::RunResults res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->GetRunResults(ctx.get(), req, &res).ok());
    EXPECT_EQ(res.jobs(0).repetitions_size(), 0) << "nothing refused may be stored";
  }
  {
    // Blob chunks: bounded and named.
    v1::UploadBlobChunkRequest req;
    req.set_attempt_id(attempt.id());
    req.set_epoch(attempt.epoch());
    req.set_sha256(std::string(64, 'b'));
    req.set_size(8 << 20);
    req.set_data(std::string(5 << 20, 'x'));
    v1::UploadBlobChunkResponse resp;
    auto ctx = Ctx();
    grpc::Status s = gw->UploadBlobChunk(ctx.get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("data: at most"), std::string::npos) << s.error_message();
    req.set_data("");
    req.set_size(1ll << 40);
    auto ctx2 = Ctx();
    s = gw->UploadBlobChunk(ctx2.get(), req, &resp);
    EXPECT_NE(s.error_message().find("size: want 1 to"), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(RunLogs(*stub_, run.id()).size(), before);
  EXPECT_EQ(GetRun(*stub_, run.id()).state(), v1::RUN_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace perfgate::testing
