// Retention over a real PostgreSQL (issue 17): an old run loses its logs and profiles (and the
// blobs no other profile names), a recent one keeps them, measurements stay; a dry run counts
// the same and removes nothing; a time budget stops between batches; disk use per kind.
#include "controller/store/pg_retention_store.h"

#include "common/hash/sha256.h"
#include "controller/store/pg_agent_store.h"
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_result_store.h"
#include "tests/store/store_test_support.h"

namespace perfgate::controller {
namespace {

class PgRetentionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::MigratedPool();
    ASSERT_NE(pool_, nullptr);
    jobs_ = std::make_unique<PgJobStore>(*pool_, RetryPolicy{}, QueueTimings{});
    agents_ = std::make_unique<PgAgentStore>(*pool_, RetryPolicy{}, QueueTimings{});
    results_ = std::make_unique<PgResultStore>(*pool_);
    v1::Hello h;
    h.set_name("a1");
    h.set_capacity(1);
    ASSERT_TRUE(agents_->StartSession(h, "test").ok());
  }

  void UploadBlob(const v1::Assign& a, const std::string& blob) {
    v1::UploadBlobChunkRequest c;
    c.set_attempt_id(a.attempt_id());
    c.set_epoch(a.epoch());
    c.set_sha256(common::Sha256Hex(blob));
    c.set_size(static_cast<int64_t>(blob.size()));
    c.set_data(blob);
    ASSERT_TRUE(results_->StoreBlobChunk(c).ok());
  }

  // A finished run with `chunks` log chunks of 100 bytes and one repetition whose profiles
  // name `blobs`; its finished_at then set `age` back.
  int64_t FinishedRun(const std::vector<std::string>& blobs, int chunks, absl::Duration age) {
    v1::RunSpec spec;
    spec.add_jobs()->mutable_command()->set_command("true");
    spec.mutable_jobs(0)->set_name("bench");
    spec.mutable_jobs(0)->set_max_attempts(1);
    const int64_t run = jobs_->SubmitRun(spec)->id();
    auto claim = jobs_->ClaimJob("a1", nullptr);
    EXPECT_TRUE(claim.ok() && claim->has_value());
    const v1::Assign a = **claim;
    v1::AcceptAttemptRequest acc;
    acc.set_attempt_id(a.attempt_id());
    acc.set_epoch(a.epoch());
    acc.set_agent("a1");
    EXPECT_TRUE(jobs_->AcceptAttempt(acc).ok());
    v1::UploadLogRequest logs;
    logs.set_attempt_id(a.attempt_id());
    logs.set_epoch(a.epoch());
    for (int i = 0; i < chunks; ++i) {
      auto* c = logs.add_chunks();
      c->set_seq(i);
      c->set_stream(v1::LOG_STREAM_STDOUT);
      c->set_data(std::string(100, 'l'));
    }
    EXPECT_TRUE(jobs_->AppendLogs(logs).ok());
    v1::UploadResultsRequest up;
    up.set_attempt_id(a.attempt_id());
    up.set_epoch(a.epoch());
    auto* rep = up.add_results();
    rep->set_repetition(1);
    rep->set_valid(true);
    auto* m = rep->add_measurements();
    m->set_name("http.latency.p99");
    m->set_unit("ms");
    m->set_value(3);
    int i = 0;
    for (const auto& b : blobs) {
      UploadBlob(a, b);
      auto* p = rep->add_profiles();
      p->set_service("api");
      p->set_kind("cpu");
      p->set_point("p" + std::to_string(i++));
      p->set_sha256(common::Sha256Hex(b));
      p->set_size(static_cast<int64_t>(b.size()));
    }
    EXPECT_TRUE(results_->StoreResults(up).ok());
    v1::CompleteAttemptRequest done;
    done.set_attempt_id(a.attempt_id());
    done.set_epoch(a.epoch());
    done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
    EXPECT_TRUE(jobs_->CompleteAttempt(done).ok());
    Sql("UPDATE runs SET finished_at = now() - make_interval(secs => " +
        std::to_string(absl::ToDoubleSeconds(age)) + ") WHERE id = " + std::to_string(run));
    return run;
  }

  void Sql(const std::string& sql) { testing::Sql(*pool_, sql); }
  int64_t Count(const std::string& sql) { return testing::Count(*pool_, sql); }
  const v1::CollectedKind& Kind(const v1::CollectGarbageResponse& r, const std::string& k) {
    for (const auto& c : r.kinds())
      if (c.kind() == k) return c;
    ADD_FAILURE() << "no kind " << k;
    return r.kinds(0);
  }

  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgJobStore> jobs_;
  std::unique_ptr<PgAgentStore> agents_;
  std::unique_ptr<PgResultStore> results_;
  const RetentionAges policy_{absl::Hours(24 * 30), absl::Hours(24 * 90)};
};

TEST_F(PgRetentionStoreTest, OldRunsLoseLogsAndProfilesRecentOnesAndMeasurementsStay) {
  const std::string shared(5000, 's'), own(7000, 'o');
  const int64_t old_run = FinishedRun({shared, own}, 3, absl::Hours(24 * 100));
  const int64_t mid_run = FinishedRun({}, 2, absl::Hours(24 * 40));  // logs go, no profiles
  const int64_t new_run = FinishedRun({shared}, 4, absl::Hours(24));
  PgRetentionStore store(*pool_);

  auto dry = store.Collect(policy_, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_TRUE(dry->dry_run());
  EXPECT_FALSE(dry->more());
  EXPECT_EQ(Kind(*dry, "logs").runs(), 2);
  EXPECT_EQ(Kind(*dry, "logs").items(), 5);
  EXPECT_EQ(Kind(*dry, "logs").bytes(), 500);
  EXPECT_EQ(Kind(*dry, "logs").older_than_days(), 30);
  EXPECT_EQ(Kind(*dry, "profiles").runs(), 1);
  EXPECT_EQ(Kind(*dry, "profiles").items(), 2);
  EXPECT_EQ(Kind(*dry, "profiles").bytes(), 7000) << "the shared blob is still named";
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks"), 9) << "a dry run removes nothing";
  EXPECT_EQ(Count("SELECT count(*) FROM blobs"), 2);

  auto done = store.Collect(policy_, /*dry_run=*/false);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(Kind(*done, "logs").items(), 5);
  EXPECT_EQ(Kind(*done, "profiles").bytes(), 7000);
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks WHERE run_id = " + std::to_string(new_run)), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks WHERE run_id <> " + std::to_string(new_run)), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM blobs"), 1);
  EXPECT_EQ(
      Count("SELECT count(*) FROM blob_chunks WHERE sha256 = '" + common::Sha256Hex(own) + "'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM profiles"), 1);
  // The runs say so; their measurements are all there.
  auto old = jobs_->GetRun(old_run);
  ASSERT_TRUE(old.ok());
  EXPECT_GT(old->logs_removed_at().seconds(), 0);
  EXPECT_GT(old->profiles_removed_at().seconds(), 0);
  auto mid = jobs_->GetRun(mid_run);
  EXPECT_GT(mid->logs_removed_at().seconds(), 0);
  EXPECT_EQ(mid->profiles_removed_at().seconds(), 0);
  EXPECT_FALSE(jobs_->GetRun(new_run)->has_logs_removed_at());
  auto res = results_->GetRunResults(old_run);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->jobs(0).repetitions_size(), 1);
  EXPECT_EQ(res->jobs(0).repetitions(0).measurements(0).value(), 3);

  // Nothing left to do the second time.
  auto again = store.Collect(policy_, false);
  EXPECT_EQ(Kind(*again, "logs").runs(), 0);
  EXPECT_EQ(Kind(*again, "profiles").runs(), 0);
}

TEST_F(PgRetentionStoreTest, ZeroAgeKeepsAndATimeBudgetStopsBetweenBatches) {
  for (int i = 0; i < 3; ++i) FinishedRun({}, 1, absl::Hours(24 * 60));
  PgRetentionStore one_run_per_batch(*pool_, 1);
  auto keep = one_run_per_batch.Collect({absl::ZeroDuration(), absl::ZeroDuration()}, false);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(Kind(*keep, "logs").older_than_days(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks"), 3);

  auto first = one_run_per_batch.Collect(policy_, false, absl::InfinitePast());
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->more());
  EXPECT_EQ(Kind(*first, "logs").runs(), 1);
  auto rest = one_run_per_batch.Collect(policy_, false);
  EXPECT_FALSE(rest->more());
  EXPECT_EQ(Kind(*rest, "logs").runs(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks"), 0);
}

TEST_F(PgRetentionStoreTest, UsageCountsEveryKind) {
  FinishedRun({std::string(100'000, 'p')}, 10, absl::Hours(1));
  PgRetentionStore store(*pool_);
  auto u = store.Usage();
  ASSERT_TRUE(u.ok()) << u.status();
  std::map<std::string, int64_t> kinds;
  int64_t sum = 0;
  for (const auto& k : u->kinds()) {
    kinds[k.kind()] = k.bytes();
    sum += k.bytes();
  }
  for (const char* k : {"logs", "profiles", "measurements", "analysis", "queue", "ci", "other"})
    EXPECT_TRUE(kinds.count(k)) << k;
  EXPECT_GT(kinds["logs"], 0);
  EXPECT_GT(kinds["profiles"], 8192);
  EXPECT_GT(kinds["measurements"], 0);
  EXPECT_EQ(u->total_bytes(), sum);
}

}  // namespace
}  // namespace perfgate::controller
