#include "controller/store/pg_result_store.h"

#include "common/hist/hdr_histogram.h"
#include "controller/queue/result_summary.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_agent_store.h"
#include "controller/store/pg_job_store.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller {
namespace {

class PgResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = *PgPool::Create(perfgate::testing::TestPostgres::Get().NewDatabase(), 4);
    ASSERT_TRUE(ApplyMigrations(*pool_, BuiltinMigrations()).ok());
    jobs_ = std::make_unique<PgJobStore>(*pool_, RetryPolicy{}, QueueTimings{});
    agents_ = std::make_unique<PgAgentStore>(*pool_, RetryPolicy{}, QueueTimings{});
    results_ = std::make_unique<PgResultStore>(*pool_);
    v1::Hello h;
    h.set_name("a1");
    h.set_capacity(1);
    ASSERT_TRUE(agents_->StartSession(h, "test").ok());
    v1::RunSpec spec;
    spec.add_jobs()->mutable_command()->set_command("true");
    spec.mutable_jobs(0)->set_name("bench");
    spec.mutable_jobs(0)->set_max_attempts(1);
    run_ = *jobs_->SubmitRun(spec);
    auto claim = jobs_->ClaimJob("a1", nullptr);
    ASSERT_TRUE(claim.ok() && claim->has_value());
    assign_ = **claim;
  }

  v1::RepetitionResult Rep(int n, double p99, bool valid = true) {
    v1::RepetitionResult r;
    r.set_repetition(n);
    r.set_valid(valid);
    if (!valid) r.set_invalid_reason("generator fell behind");
    r.set_generator("http-open-loop");
    auto* m = r.add_measurements();
    m->set_name("http.latency.p99");
    m->set_unit("ms");
    m->set_value(p99);
    m->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
    m = r.add_measurements();
    m->set_name("http.throughput");
    m->set_unit("req/s");
    m->set_value(1000 + n);
    m->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
    auto h = common::HdrHistogram::Create();
    h->Record(static_cast<int64_t>(p99 * 1000));
    auto* nh = r.add_histograms();
    nh->set_name("http.latency");
    *nh->mutable_histogram() = h->ToProto();
    return r;
  }

  v1::UploadResultsRequest Req(std::vector<v1::RepetitionResult> reps) {
    v1::UploadResultsRequest req;
    req.set_attempt_id(assign_.attempt_id());
    req.set_epoch(assign_.epoch());
    for (auto& r : reps) *req.add_results() = r;
    return req;
  }

  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgJobStore> jobs_;
  std::unique_ptr<PgAgentStore> agents_;
  std::unique_ptr<PgResultStore> results_;
  v1::Run run_;
  v1::Assign assign_;
};

TEST_F(PgResultStoreTest, StoresRepetitionsOnceAndReadsThemBackWithSummaries) {
  ASSERT_TRUE(results_->StoreResults(Req({Rep(1, 10), Rep(2, 12)})).ok());
  // A replay (the agent did not see the ack) plus a new repetition: the replayed ones are
  // skipped, even with different values, and nothing is duplicated.
  auto again = results_->StoreResults(Req({Rep(2, 99), Rep(3, 11), Rep(4, 50, false)}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, run_.id());
  auto got = results_->GetRunResults(run_.id());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->jobs_size(), 1);
  const v1::JobResults& job = got->jobs(0);
  EXPECT_EQ(job.job_name(), "bench");
  EXPECT_EQ(job.attempt_id(), assign_.attempt_id());
  ASSERT_EQ(job.repetitions_size(), 4);
  EXPECT_EQ(job.repetitions(1).measurements(0).name(), "http.latency.p99");
  EXPECT_EQ(job.repetitions(1).measurements(0).value(), 12) << "the first copy is kept";
  EXPECT_FALSE(job.repetitions(3).valid());
  EXPECT_EQ(job.repetitions(3).invalid_reason(), "generator fell behind");
  SummarizeRunResults(&*got);
  const v1::MetricSummary* p99 = nullptr;
  for (const auto& s : got->jobs(0).summary())
    if (s.name() == "http.latency.p99") p99 = &s;
  ASSERT_NE(p99, nullptr);
  EXPECT_EQ(p99->valid(), 3);
  EXPECT_EQ(p99->total(), 4);
  EXPECT_DOUBLE_EQ(p99->median(), 11) << "the invalid repetition's 50 is left out";
  EXPECT_EQ(p99->direction(), v1::DIRECTION_LOWER_IS_BETTER);
}

TEST_F(PgResultStoreTest, RefusesStaleEpochsAndUnknownAttempts) {
  auto req = Req({Rep(1, 10)});
  req.set_epoch(assign_.epoch() + 100);
  EXPECT_TRUE(absl::IsFailedPrecondition(results_->StoreResults(req).status()));
  req.set_attempt_id(999999);
  EXPECT_TRUE(absl::IsNotFound(results_->StoreResults(req).status()));
  EXPECT_TRUE(absl::IsNotFound(results_->GetRunResults(424242).status()));
  auto empty = results_->GetRunResults(run_.id());
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(empty->jobs_size(), 1);
  EXPECT_EQ(empty->jobs(0).repetitions_size(), 0);
}

}  // namespace
}  // namespace perfgate::controller
