#include "controller/store/pg_result_store.h"

#include <set>

#include "common/hash/sha256.h"
#include "common/hist/hdr_histogram.h"
#include "controller/queue/result_summary.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_agent_store.h"
#include "controller/store/pg_analysis_store.h"
#include "controller/store/pg_job_store.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"
#include "tests/store/store_test_support.h"

namespace perfgate::controller {
namespace {

class PgResultStoreTest : public ::testing::Test {
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

  // The fixture's run holds the agent: finished, so that the next can be claimed.
  void FinishFixtureRun() {
    v1::CompleteAttemptRequest done;
    done.set_attempt_id(assign_.attempt_id());
    done.set_epoch(assign_.epoch());
    done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
    ASSERT_TRUE(jobs_->CompleteAttempt(done).ok());
  }

  // A run of project p, suite s, job bench through its life on a1: p99 valid repetitions
  // `p99` and `p99 + 1` and an invalid one of 99, then the attempt ends with `outcome`.
  v1::Run Measured(v1::RunKind kind, bool aa, const std::string& branch, double p99,
                   v1::AttemptOutcome outcome = v1::ATTEMPT_OUTCOME_SUCCEEDED) {
    v1::RunSpec spec;
    spec.set_project("p");
    spec.set_suite_name("s");
    spec.set_branch(branch);
    spec.set_baseline_branch("main");
    spec.set_commit("c");
    spec.set_kind(kind);
    spec.set_aa(aa);
    spec.add_jobs()->mutable_command()->set_command("true");
    spec.mutable_jobs(0)->set_name("bench");
    spec.mutable_jobs(0)->set_max_attempts(1);
    auto run = jobs_->SubmitRun(spec);
    EXPECT_TRUE(run.ok()) << run.status();
    auto claim = jobs_->ClaimJob("a1", nullptr);
    EXPECT_TRUE(claim.ok() && claim->has_value());
    assign_ = **claim;
    EXPECT_TRUE(
        results_->StoreResults(Req({Rep(1, p99), Rep(2, p99 + 1), Rep(3, 99, false)})).ok());
    v1::CompleteAttemptRequest c;
    c.set_attempt_id(assign_.attempt_id());
    c.set_epoch(assign_.epoch());
    c.set_outcome(outcome);
    EXPECT_TRUE(jobs_->CompleteAttempt(c).ok());
    return *run;
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

v1::UploadBlobChunkRequest Chunk(const v1::Assign& a, const std::string& blob, int64_t off,
                                 size_t n) {
  v1::UploadBlobChunkRequest c;
  c.set_attempt_id(a.attempt_id());
  c.set_epoch(a.epoch());
  c.set_sha256(common::Sha256Hex(blob));
  c.set_size(static_cast<int64_t>(blob.size()));
  c.set_offset(off);
  c.set_data(blob.substr(static_cast<size_t>(off), n));
  return c;
}

TEST_F(PgResultStoreTest, BlobsArriveInChunksResumeAndAreVerified) {
  std::string blob(3 * 1000 + 7, 'x');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 31 % 251);
  // An empty chunk asks how much is held.
  auto r = results_->StoreBlobChunk(Chunk(assign_, blob, 0, 0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->received(), 0);
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 0, 1000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->received(), 1000);
  EXPECT_FALSE(r->complete());
  // A resent chunk (the agent missed the answer) is harmless; an overlapping one keeps only its
  // new part.
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 0, 1000));
  EXPECT_EQ(r->received(), 1000);
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 500, 1500));
  EXPECT_EQ(r->received(), 2000);
  // A gap is refused, naming the offset.
  auto gap = results_->StoreBlobChunk(Chunk(assign_, blob, 2500, 100));
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(gap.status().message().find("beyond the 2000 bytes held"), std::string::npos);
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 2000, 2000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(r->received(), static_cast<int64_t>(blob.size()));
  // Complete blobs answer at once, from any attempt.
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 0, 0));
  EXPECT_TRUE(r->complete());

  // A result naming it is stored with its profile, and the bytes read back exactly.
  v1::RepetitionResult rep = Rep(1, 10);
  auto* p = rep.add_profiles();
  p->set_service("api");
  p->set_kind("heap");
  p->set_point("after");
  p->set_sha256(common::Sha256Hex(blob));
  p->set_size(static_cast<int64_t>(blob.size()));
  ASSERT_TRUE(results_->StoreResults(Req({rep})).ok());
  auto list = results_->ListProfiles(run_.id());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->profiles_size(), 1);
  EXPECT_EQ(list->profiles(0).job_name(), "bench");
  EXPECT_EQ(list->profiles(0).repetition(), 1);
  auto got = results_->GetProfile(list->profiles(0).id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->second, blob);
  EXPECT_EQ(results_->GetProfile(987654).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgResultStoreTest, ABlobThatDoesNotHashToItsNameIsDiscarded) {
  std::string blob(100, 'a');
  auto c = Chunk(assign_, blob, 0, 100);
  c.mutable_data()->back() = 'b';  // corrupted on the way
  auto r = results_->StoreBlobChunk(c);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("do not hash to"), std::string::npos);
  // Nothing of it is kept: a correct upload starts from 0.
  r = results_->StoreBlobChunk(Chunk(assign_, blob, 0, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->received(), 0);
  // Bad names, sizes and offsets are refused by field.
  auto bad = Chunk(assign_, blob, 0, 10);
  bad.set_sha256("XYZ");
  EXPECT_NE(results_->StoreBlobChunk(bad).status().message().find("sha256:"), std::string::npos);
  bad = Chunk(assign_, blob, 0, 10);
  bad.set_size(5);
  EXPECT_NE(results_->StoreBlobChunk(bad).status().message().find("offset:"), std::string::npos);
  bad = Chunk(assign_, blob, 0, 10);
  bad.set_size(0);
  EXPECT_NE(results_->StoreBlobChunk(bad).status().message().find("size:"), std::string::npos);
  ASSERT_TRUE(results_->StoreBlobChunk(Chunk(assign_, blob, 0, 10)).ok());
  bad = Chunk(assign_, blob, 10, 10);
  bad.set_size(200);
  EXPECT_NE(results_->StoreBlobChunk(bad).status().message().find("disagrees"), std::string::npos);
  // A stale epoch is refused like any other upload.
  bad = Chunk(assign_, blob, 10, 10);
  bad.set_epoch(assign_.epoch() + 7);
  EXPECT_EQ(results_->StoreBlobChunk(bad).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PgResultStoreTest, AResultNamingAMissingBlobIsRefusedAndNothingIsStored) {
  v1::RepetitionResult rep = Rep(1, 10);
  auto* p = rep.add_profiles();
  p->set_service("api");
  p->set_kind("cpu");
  p->set_point("window");
  p->set_sha256(common::Sha256Hex("never uploaded"));
  auto s = results_->StoreResults(Req({rep}));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("has not been uploaded whole"), std::string::npos);
  auto got = results_->GetRunResults(run_.id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->jobs(0).repetitions_size(), 0);
}

TEST_F(PgResultStoreTest, GapsSeriesAndDbStatsRoundTrip) {
  v1::RepetitionResult rep = Rep(1, 10);
  auto* g = rep.add_gaps();
  g->set_name("prom.missing");
  g->set_reason("the query returned no data for the window");
  for (int k = 0; k < 2; ++k) {
    auto* sr = rep.add_series();
    sr->set_name("rss");
    sr->set_unit("bytes");
    (*sr->mutable_labels())["instance"] = k ? "b" : "a";
    for (int t = 0; t < 3; ++t) {
      auto* pt = sr->add_points();
      pt->set_t_ms(1000 * t);
      pt->set_value(k * 10 + t);
    }
  }
  auto* st = rep.mutable_dbstats()->add_statements();
  st->set_query("SELECT 1");
  st->set_calls(42);
  ASSERT_TRUE(results_->StoreResults(Req({rep, Rep(2, 11)})).ok());
  auto res = results_->GetRunResults(run_.id());
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->jobs(0).repetitions(0).gaps_size(), 1);
  EXPECT_EQ(res->jobs(0).repetitions(0).gaps(0).name(), "prom.missing");
  EXPECT_EQ(res->jobs(0).repetitions(1).gaps_size(), 0);
  auto series = results_->GetRunSeries(run_.id(), "rss");
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->repetitions_size(), 1);
  ASSERT_EQ(series->repetitions(0).series_size(), 2);
  EXPECT_EQ(series->repetitions(0).series(1).labels().at("instance"), "b");
  EXPECT_EQ(series->repetitions(0).series(1).points(2).value(), 12);
  EXPECT_EQ(results_->GetRunSeries(run_.id(), "other")->repetitions_size(), 0);
  auto db = results_->GetRunDbStats(run_.id());
  ASSERT_TRUE(db.ok());
  ASSERT_EQ(db->repetitions_size(), 1);
  EXPECT_EQ(db->repetitions(0).dbstats().statements(0).calls(), 42);
  EXPECT_EQ(results_->GetRunSeries(424242, "rss").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace perfgate::controller

namespace perfgate::controller {
namespace {

// The analysis store's noise samples: baseline runs of the branch and A/A runs measured against
// it, never candidates, each run's valid values apart.
TEST_F(PgResultStoreTest, NoiseComesFromBaselineAndAaRunsOnly) {
  FinishFixtureRun();
  Measured(v1::RUN_KIND_BASELINE, false, "main", 10);
  v1::Run aa = Measured(v1::RUN_KIND_EXPERIMENT, true, "aa-check", 20);
  Measured(v1::RUN_KIND_CANDIDATE, false, "feature", 30);
  Measured(v1::RUN_KIND_EXPERIMENT, false, "main", 40);  // an experiment that is not an A/A
  v1::Run cand = Measured(v1::RUN_KIND_CANDIDATE, false, "feature", 50);
  PgAnalysisStore analysis(*pool_);
  auto noise = analysis.NoiseSamples(cand, "main", "bench", "", 10);
  ASSERT_TRUE(noise.ok()) << noise.status();
  const auto& runs = noise->at("http.latency.p99");
  ASSERT_EQ(runs.size(), 2u);
  std::set<std::vector<double>> got(runs.begin(), runs.end());
  EXPECT_EQ(got, (std::set<std::vector<double>>{{10, 11}, {20, 21}}))
      << "the baseline and the A/A, valid repetitions only";
  // The A/A's own comparison learns from the others only.
  auto own = analysis.NoiseSamples(aa, "main", "bench", "", 10);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->at("http.latency.p99"), (std::vector<std::vector<double>>{{10, 11}}));
}

// `perfgate history`: a point per succeeded baseline of the branch (the run's summary, written as
// it succeeded), from its valid repetitions; candidates, other branches and failed runs are not
// points; newest `limit` points, oldest first.
TEST_F(PgResultStoreTest, HistoryPointsAreTheSucceededBaselinesSummaries) {
  FinishFixtureRun();
  const v1::Run b1 = Measured(v1::RUN_KIND_BASELINE, false, "main", 10);
  Measured(v1::RUN_KIND_CANDIDATE, false, "feature", 30);
  Measured(v1::RUN_KIND_BASELINE, false, "other", 40);
  Measured(v1::RUN_KIND_BASELINE, false, "main", 50, v1::ATTEMPT_OUTCOME_FAILED);
  const v1::Run b2 = Measured(v1::RUN_KIND_BASELINE, false, "main", 20);
  PgAnalysisStore analysis(*pool_);
  v1::GetHistoryRequest req;
  req.set_project("p");
  req.set_branch("main");
  req.set_suite_name("s");
  req.set_metric("http.latency.p99");
  auto h = analysis.GetHistory(req);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->job_name(), "bench");
  EXPECT_EQ(h->unit(), "ms");
  EXPECT_EQ(h->direction(), v1::DIRECTION_LOWER_IS_BETTER);
  ASSERT_EQ(h->points_size(), 2);
  EXPECT_EQ(h->points(0).run_id(), b1.id());
  EXPECT_DOUBLE_EQ(h->points(0).median(), 10.5);  // repetitions 10 and 11; the invalid 99 not
  EXPECT_DOUBLE_EQ(h->points(0).q1(), 10.25);
  EXPECT_DOUBLE_EQ(h->points(0).q3(), 10.75);
  EXPECT_EQ(h->points(0).repetitions(), 2);
  EXPECT_EQ(h->points(1).run_id(), b2.id());
  EXPECT_DOUBLE_EQ(h->points(1).median(), 20.5);
  req.set_limit(1);
  h = analysis.GetHistory(req);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->points_size(), 1);
  EXPECT_EQ(h->points(0).run_id(), b2.id());
  // The project left out: any project's.
  req.clear_project();
  h = analysis.GetHistory(req);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->points_size(), 1);
  req.set_metric("http.nothing");
  EXPECT_EQ(analysis.GetHistory(req).status().code(), absl::StatusCode::kNotFound);
  // A summary row per metric (2) of each succeeded run that measured (4; the fixture's stored
  // nothing), none of the failed one.
  EXPECT_EQ(testing::Count(*pool_, "SELECT count(*) FROM metric_summaries"), 4 * 2);
}

// The results fence (issue 17): an attempt superseded by a later attempt of its job (its
// lease ran out, it was lost beyond lost_after, the job was retried) can store no results and no
// blob chunks, even with its own epoch; what it stored before stays for the record, but the job's
// results, the analysis and the noise estimate read only the attempt that completed the job.
TEST_F(PgResultStoreTest, ASupersededAttemptsLateResultsAreRefusedAndNeverAnalysed) {
  FinishFixtureRun();
  auto sql = [&](const std::string& q) {
    ASSERT_TRUE(pool_
                    ->Transact([&](pqxx::work& tx) {
                      tx.exec(q);
                      return absl::OkStatus();
                    })
                    .ok());
  };
  v1::RunSpec spec;
  spec.set_project("p");
  spec.set_suite_name("s");
  spec.set_branch("main");
  spec.set_commit("c");
  spec.set_kind(v1::RUN_KIND_BASELINE);
  spec.add_jobs()->mutable_command()->set_command("true");
  spec.mutable_jobs(0)->set_name("bench");
  spec.mutable_jobs(0)->set_max_attempts(2);
  v1::Run run = *jobs_->SubmitRun(spec);
  auto first = jobs_->ClaimJob("a1", nullptr);
  ASSERT_TRUE(first.ok() && first->has_value());
  assign_ = **first;
  const v1::Assign old = assign_;
  ASSERT_TRUE(results_->StoreResults(Req({Rep(1, 900)})).ok());  // before it was lost
  // Lost, then lost for longer than lost_after: ended, and the job retried on another agent.
  sql("UPDATE attempts SET lease_expires_at = now() - interval '1 second'");
  ASSERT_TRUE(jobs_->Sweep(absl::Minutes(10)).ok());
  sql("UPDATE attempts SET lost_at = now() - interval '11 minutes'");
  ASSERT_TRUE(jobs_->Sweep(absl::Minutes(10)).ok());
  // Ended but not yet superseded: nothing new is stored (a replay of what it stored is fine).
  auto ended = results_->StoreResults(Req({Rep(2, 900)}));
  EXPECT_TRUE(absl::IsFailedPrecondition(ended.status())) << ended.status();
  EXPECT_NE(ended.status().message().find("already ended as EXPIRED"), std::string::npos)
      << ended.status();
  EXPECT_TRUE(results_->StoreResults(Req({Rep(1, 900)})).ok()) << "a replay";
  sql("UPDATE jobs SET not_before = now()");  // the retry's backoff
  v1::Hello h;
  h.set_name("b1");
  h.set_capacity(1);
  ASSERT_TRUE(agents_->StartSession(h, "test").ok());
  auto second = jobs_->ClaimJob("b1", nullptr);
  ASSERT_TRUE(second.ok() && second->has_value());
  ASSERT_EQ((*second)->job_id(), old.job_id());
  // Superseded: refused whatever it sends, results or blob chunks.
  auto late = results_->StoreResults(Req({Rep(3, 900)}));
  EXPECT_TRUE(absl::IsFailedPrecondition(late.status())) << late.status();
  EXPECT_NE(late.status().message().find("superseded by a later attempt"), std::string::npos)
      << late.status();
  v1::UploadBlobChunkRequest chunk;
  chunk.set_attempt_id(old.attempt_id());
  chunk.set_epoch(old.epoch());
  chunk.set_sha256(common::Sha256Hex("late"));
  chunk.set_size(4);
  chunk.set_data("late");
  EXPECT_TRUE(absl::IsFailedPrecondition(results_->StoreBlobChunk(chunk).status()));
  // The retry measures and completes the job: its results are the job's.
  assign_ = **second;
  ASSERT_TRUE(results_->StoreResults(Req({Rep(1, 10), Rep(2, 11)})).ok());
  v1::CompleteAttemptRequest c;
  c.set_attempt_id(assign_.attempt_id());
  c.set_epoch(assign_.epoch());
  c.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
  ASSERT_TRUE(jobs_->CompleteAttempt(c).ok());
  auto res = results_->GetRunResults(run.id());
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->jobs_size(), 1);
  EXPECT_EQ(res->jobs(0).attempt_id(), assign_.attempt_id());
  EXPECT_EQ(res->jobs(0).repetitions_size(), 2);
  PgAnalysisStore analysis(*pool_);
  auto samples = analysis.LoadRunSamples(run.id());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->jobs.size(), 1u);
  EXPECT_EQ(samples->jobs[0].agent, "b1");
  EXPECT_EQ(samples->jobs[0].total, 2);
  // As a baseline's noise, only the completing attempt's values (900 was the lost one's).
  spec.set_kind(v1::RUN_KIND_CANDIDATE);
  spec.set_branch("feature");
  spec.set_baseline_branch("main");
  v1::Run cand = *jobs_->SubmitRun(spec);
  auto noise = analysis.NoiseSamples(cand, "main", "bench", "", 10);
  ASSERT_TRUE(noise.ok()) << noise.status();
  EXPECT_EQ(noise->at("http.latency.p99"), (std::vector<std::vector<double>>{{10, 11}}));
}

}  // namespace
}  // namespace perfgate::controller
