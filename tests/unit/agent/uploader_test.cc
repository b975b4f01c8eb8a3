// The uploader against an in-process gateway over real gRPC. Blobs: with every other chunk
// dropped, a profile arrives whole (resumed from what the controller holds) before the result
// that names it, and a profile lost from the spool becomes a gap instead of blocking the rest.
// Order: a result spooled while a pass is uploading reaches the controller before the completion.
#include "agent/spool/uploader.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "agent/spool/attempt_journal.h"
#include "common/hash/sha256.h"
#include "gtest/gtest.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::agent {
namespace {

class FlakyGateway final : public v1::AgentGateway::Service {
 public:
  grpc::Status UploadBlobChunk(grpc::ServerContext*, const v1::UploadBlobChunkRequest* req,
                               v1::UploadBlobChunkResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++chunk_calls_;
    if (!req->data().empty() && ++data_calls_ % 2 == 0)
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "dropped");
    std::string& have = blobs_[req->sha256()];
    if (req->offset() > static_cast<int64_t>(have.size()))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "offset beyond what is held");
    const size_t end = req->offset() + req->data().size();
    if (end > have.size()) have += req->data().substr(have.size() - req->offset());
    resp->set_received(static_cast<int64_t>(have.size()));
    resp->set_complete(static_cast<int64_t>(have.size()) == req->size() &&
                       common::Sha256Hex(have) == req->sha256());
    return grpc::Status::OK;
  }
  grpc::Status UploadResults(grpc::ServerContext*, const v1::UploadResultsRequest* req,
                             v1::UploadResultsResponse*) override {
    if (during_results_) std::exchange(during_results_, nullptr)();
    absl::MutexLock lock(&mu_);
    for (const auto& r : req->results()) {
      if (r.valid() && poison_.count(r.repetition()))
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "results[0].measurements[0].value: not finite");
      if (r.valid() && too_large_.count(r.repetition()))
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "message larger than max");
    }
    for (const auto& r : req->results()) {
      for (const auto& p : r.profiles()) {
        if (common::Sha256Hex(blobs_[p.sha256()]) != p.sha256())
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "blob not whole");
      }
      results_.push_back(r);
    }
    return grpc::Status::OK;
  }
  grpc::Status UploadLog(grpc::ServerContext*, const v1::UploadLogRequest*,
                         v1::UploadLogResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status CompleteAttempt(grpc::ServerContext*, const v1::CompleteAttemptRequest*,
                               v1::CompleteAttemptResponse*) override {
    absl::MutexLock lock(&mu_);
    completed_ = true;
    results_at_completion_ = results_.size();
    return grpc::Status::OK;
  }

  // Runs once, inside the first UploadResults call (set before the uploader starts).
  std::function<void()> during_results_;
  // Repetitions whose content is refused (INVALID_ARGUMENT) or never fits (RESOURCE_EXHAUSTED).
  std::set<int> poison_, too_large_;
  absl::Mutex mu_;
  int chunk_calls_ = 0, data_calls_ = 0;
  std::map<std::string, std::string> blobs_;
  std::vector<v1::RepetitionResult> results_;
  bool completed_ = false;
  size_t results_at_completion_ = 0;
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&gateway_);
    server_ = b.BuildAndStart();
    stub_ = v1::AgentGateway::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                          grpc::InsecureChannelCredentials()));
    dir_ = perfgate::testing::MakeTempDir("uploader") + "/a1";
    v1::Assign a;
    a.set_attempt_id(1);
    a.set_epoch(1);
    journal_ = *AttemptJournal::Create(dir_, a);
  }
  void TearDown() override { server_->Shutdown(); }

  // Runs an uploader until the journal is gone (completion delivered), at most 60 s.
  void Drain() {
    prometheus::Registry registry;
    Uploader u(
        *stub_, [] { return std::make_unique<grpc::ClientContext>(); },
        [](int64_t, const std::string& why) { ADD_FAILURE() << "refused: " << why; }, registry);
    u.Add(journal_);
    u.Start();
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!u.Idle() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    EXPECT_TRUE(u.Idle()) << "the uploader did not finish";
    u.Stop();
  }

  FlakyGateway gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AgentGateway::Stub> stub_;
  std::string dir_;
  std::shared_ptr<AttemptJournal> journal_;
};

v1::ProfileRef Ref(const std::string& sha, size_t size) {
  v1::ProfileRef p;
  p.set_service("api");
  p.set_kind("heap");
  p.set_point("after");
  p.set_sha256(sha);
  p.set_size(static_cast<int64_t>(size));
  return p;
}

TEST_F(UploaderTest, AProfileArrivesWholeThroughDroppedChunksBeforeItsResult) {
  std::string blob(5 * (1 << 19) + 123, '\0');  // 2.5 MiB: three 1 MiB chunks
  std::mt19937 rng(7);
  for (auto& c : blob) c = static_cast<char>(rng());
  auto sha = journal_->AddBlob(blob);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, common::Sha256Hex(blob));
  EXPECT_EQ(*journal_->AddBlob(blob), *sha) << "the same bytes are stored once";
  v1::RepetitionResult r;
  r.set_repetition(1);
  *r.add_profiles() = Ref(*sha, blob.size());
  ASSERT_TRUE(journal_->AddResult(r).ok());
  ASSERT_TRUE(journal_->Finish(v1::CompleteAttemptRequest()).ok());
  Drain();
  absl::MutexLock lock(&gateway_.mu_);
  EXPECT_EQ(gateway_.blobs_[*sha], blob);
  ASSERT_EQ(gateway_.results_.size(), 1u);
  EXPECT_EQ(gateway_.results_[0].profiles_size(), 1);
  EXPECT_TRUE(gateway_.completed_);
  // 3 chunks stored, each after one dropped attempt, plus the resuming empty asks.
  EXPECT_GE(gateway_.data_calls_, 5);
  EXPECT_FALSE(std::filesystem::exists(dir_)) << "the journal goes once delivered";
}

TEST_F(UploaderTest, AProfileLostFromTheSpoolBecomesAGap) {
  auto sha = journal_->AddBlob("some profile bytes");
  ASSERT_TRUE(sha.ok());
  std::filesystem::remove(journal_->BlobPath(*sha));
  v1::RepetitionResult r;
  r.set_repetition(1);
  *r.add_profiles() = Ref(*sha, 18);
  r.add_measurements()->set_name("http.requests");
  ASSERT_TRUE(journal_->AddResult(r).ok());
  ASSERT_TRUE(journal_->Finish(v1::CompleteAttemptRequest()).ok());
  Drain();
  absl::MutexLock lock(&gateway_.mu_);
  ASSERT_EQ(gateway_.results_.size(), 1u);
  const auto& got = gateway_.results_[0];
  EXPECT_EQ(got.profiles_size(), 0);
  EXPECT_EQ(got.measurements_size(), 1) << "the rest of the result still arrives";
  ASSERT_EQ(got.gaps_size(), 1);
  EXPECT_EQ(got.gaps(0).name(), "profile.api.heap.after");
  EXPECT_NE(got.gaps(0).reason().find("spooled profile is gone"), std::string::npos);
}

// The attempt spools its last result and finishes while the uploader is sending the results it
// read before: the completion must not overtake that result (the controller would close the
// attempt one repetition short, as a CI run once did with a harness's eight repetitions).
TEST_F(UploaderTest, AResultSpooledDuringAPassArrivesBeforeTheCompletion) {
  v1::RepetitionResult r;
  r.set_repetition(1);
  ASSERT_TRUE(journal_->AddResult(r).ok());
  gateway_.during_results_ = [this] {
    v1::RepetitionResult last;
    last.set_repetition(2);
    ASSERT_TRUE(journal_->AddResult(last).ok());
    ASSERT_TRUE(journal_->Finish(v1::CompleteAttemptRequest()).ok());
  };
  Drain();
  absl::MutexLock lock(&gateway_.mu_);
  ASSERT_EQ(gateway_.results_.size(), 2u);
  EXPECT_EQ(gateway_.results_[1].repetition(), 2);
  EXPECT_TRUE(gateway_.completed_);
  EXPECT_EQ(gateway_.results_at_completion_, 2u) << "the completion came before the last result";
}

// One repetition the controller cannot take costs only itself (issue 17): a refused batch is
// retried one repetition at a time; the refused one, and one that fails RESOURCE_EXHAUSTED call
// after call, is reported as an invalid repetition with the controller's words; the rest, and
// the completion, arrive.
TEST_F(UploaderTest, ARefusedRepetitionIsReportedInvalidAndTheRestKept) {
  gateway_.poison_ = {2};
  gateway_.too_large_ = {4};
  for (int n = 1; n <= 5; ++n) {
    v1::RepetitionResult r;
    r.set_repetition(n);
    r.set_valid(true);
    auto* m = r.add_measurements();
    m->set_name("http.throughput");
    m->set_value(100 + n);
    ASSERT_TRUE(journal_->AddResult(r).ok());
  }
  v1::CompleteAttemptRequest done;
  done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
  ASSERT_TRUE(journal_->Finish(done).ok());
  Drain();
  absl::MutexLock lock(&gateway_.mu_);
  ASSERT_EQ(gateway_.results_.size(), 5u);
  std::map<int, v1::RepetitionResult> by;
  for (const auto& r : gateway_.results_) by[r.repetition()] = r;
  for (int n : {1, 3, 5}) {
    EXPECT_TRUE(by[n].valid()) << n;
    EXPECT_EQ(by[n].measurements(0).value(), 100 + n);
  }
  EXPECT_FALSE(by[2].valid());
  EXPECT_EQ(by[2].invalid_reason(),
            "refused by the controller: results[0].measurements[0].value: not finite");
  EXPECT_EQ(by[2].measurements_size(), 0);
  EXPECT_FALSE(by[4].valid());
  EXPECT_EQ(by[4].invalid_reason(), "refused by the controller: message larger than max");
  EXPECT_TRUE(gateway_.completed_);
}

}  // namespace
}  // namespace perfgate::agent
