#include "controller/store/pg_job_store.h"

#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "controller/queue/agent_matcher.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_agent_store.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"
#include "tests/store/store_test_support.h"

namespace perfgate::controller {
namespace {

class PgJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = perfgate::testing::TestPostgres::Get().NewDatabase();
    pool_ = *PgPool::Create(dsn_, 8);
    ASSERT_TRUE(ApplyMigrations(*pool_, BuiltinMigrations()).ok());
    retry_.base_backoff = absl::ZeroDuration();
    jobs_ = std::make_unique<PgJobStore>(*pool_, retry_, timings_);
    agents_ = std::make_unique<PgAgentStore>(*pool_, retry_, timings_);
  }

  void Connect(const std::string& name, std::map<std::string, std::string> labels = {},
               std::vector<int64_t> held = {}) {
    v1::Hello h;
    h.set_name(name);
    h.set_capacity(1);
    h.mutable_labels()->insert(labels.begin(), labels.end());
    for (int64_t id : held) {
      auto* x = h.add_held();
      x->set_attempt_id(id);
      x->set_running(true);
    }
    ASSERT_TRUE(agents_->StartSession(h, "test").ok());
  }

  v1::Run Submit(int jobs, std::map<std::string, std::string> selector = {}) {
    v1::RunSpec spec;
    spec.set_kind(v1::RUN_KIND_BASELINE);
    spec.set_branch("main");
    spec.set_commit("c0ffee");
    for (int i = 0; i < jobs; ++i) {
      auto* j = spec.add_jobs();
      j->set_name("j" + std::to_string(i));
      j->set_max_attempts(3);
      j->mutable_command()->set_command("true");
      j->mutable_agent_selector()->insert(selector.begin(), selector.end());
    }
    auto run = jobs_->SubmitRun(spec);
    EXPECT_TRUE(run.ok()) << run.status();
    return *run;
  }

  std::optional<v1::Assign> Claim(const std::string& agent) {
    absl::Duration waited;
    auto c = jobs_->ClaimJob(agent, &waited);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : std::nullopt;
  }

  absl::Status Accept(const v1::Assign& a, const std::string& agent) {
    v1::AcceptAttemptRequest r;
    r.set_attempt_id(a.attempt_id());
    r.set_epoch(a.epoch());
    r.set_agent(agent);
    return jobs_->AcceptAttempt(r);
  }

  absl::StatusOr<int64_t> Complete(const v1::Assign& a, v1::AttemptOutcome o) {
    v1::CompleteAttemptRequest r;
    r.set_attempt_id(a.attempt_id());
    r.set_epoch(a.epoch());
    r.set_outcome(o);
    return jobs_->CompleteAttempt(r);
  }

  void Sql(const std::string& sql) { testing::Sql(*pool_, sql); }

  // Live attempts (ASSIGNED, RUNNING, LOST) holding the agent.
  int64_t LiveAttempts(const std::string& agent) {
    int64_t n = -1;
    EXPECT_TRUE(pool_
                    ->Transact([&](pqxx::work& tx) {
                      n = tx.exec_params(
                                "SELECT count(*) FROM attempts WHERE agent_name = $1 "
                                "AND state IN ('ASSIGNED', 'RUNNING', 'LOST')",
                                agent)[0][0]
                              .as<int64_t>();
                      return absl::OkStatus();
                    })
                    .ok());
    return n;
  }

  JobState StateOf(int64_t run_id, int job = 0) { return jobs_->GetRun(run_id)->jobs(job).state(); }

  std::string dsn_;
  std::unique_ptr<PgPool> pool_;
  RetryPolicy retry_;
  QueueTimings timings_;
  std::unique_ptr<PgJobStore> jobs_;
  std::unique_ptr<PgAgentStore> agents_;
};

TEST_F(PgJobStoreTest, HappyPathThroughEveryState) {
  Connect("a");
  v1::Run run = Submit(1);
  EXPECT_EQ(run.state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(run.jobs(0).state(), v1::JOB_STATE_QUEUED);
  auto a = Claim("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->run_id(), run.id());
  EXPECT_EQ(a->commit(), "c0ffee");
  EXPECT_EQ(a->spec().command().command(), "true");
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_ASSIGNED);
  ASSERT_TRUE(Accept(*a, "a").ok());
  ASSERT_TRUE(Accept(*a, "a").ok()) << "accept must be idempotent";
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(jobs_->GetRun(run.id())->state(), v1::RUN_STATE_RUNNING);
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok())
      << "a replayed completion is harmless";
  EXPECT_TRUE(absl::IsFailedPrecondition(Complete(*a, v1::ATTEMPT_OUTCOME_FAILED).status()));
  v1::Run done = *jobs_->GetRun(run.id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(done.has_finished_at());
  ASSERT_EQ(done.jobs(0).attempts_size(), 1);
  EXPECT_EQ(done.jobs(0).attempts(0).state(), "SUCCEEDED");
}

TEST_F(PgJobStoreTest, OneActiveAttemptPerAgentAndSelectorsRespected) {
  Connect("small", {{"tier", "small"}});
  Connect("large", {{"tier", "large"}});
  v1::Run run = Submit(3, {{"tier", "large"}});
  EXPECT_FALSE(Claim("small").has_value()) << "selector not satisfied";
  auto a = Claim("large");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(Claim("large").has_value()) << "busy agent must not claim";
  // Even bypassing the store, the database refuses a second live attempt on one agent.
  EXPECT_THROW(
      {
        pqxx::connection c(dsn_);
        pqxx::work tx(c);
        tx.exec_params(
            "INSERT INTO attempts (job_id, agent_name, state, lease_expires_at) "
            "VALUES ($1, 'large', 'ASSIGNED', now())",
            run.jobs(1).id());
      },
      pqxx::unique_violation);
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  EXPECT_TRUE(Claim("large").has_value());
}

TEST_F(PgJobStoreTest, ConcurrentClaimsNeverDoubleAssign) {
  for (int i = 0; i < 8; ++i) Connect("agent" + std::to_string(i));
  Submit(40);
  std::mutex mu;
  std::set<int64_t> claimed_jobs;
  int duplicates = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      std::string agent = "agent" + std::to_string(i);
      for (int k = 0; k < 10; ++k) {
        absl::Duration waited;
        auto c = jobs_->ClaimJob(agent, &waited);
        if (!c.ok() || !c->has_value()) continue;
        {
          std::lock_guard<std::mutex> l(mu);
          if (!claimed_jobs.insert((*c)->job_id()).second) ++duplicates;
        }
        v1::CompleteAttemptRequest r;
        r.set_attempt_id((*c)->attempt_id());
        r.set_epoch((*c)->epoch());
        r.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
        (void)jobs_->CompleteAttempt(r);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(duplicates, 0);
  EXPECT_GT(claimed_jobs.size(), 8u);
}

TEST_F(PgJobStoreTest, InfrastructureFailuresRetryThenFail) {
  Connect("a");
  v1::Run run = Submit(1);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto a = Claim("a");
    ASSERT_TRUE(a.has_value()) << "attempt " << attempt;
    ASSERT_TRUE(Accept(*a, "a").ok());
    ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_INFRA_FAILURE).ok());
    EXPECT_EQ(StateOf(run.id()), attempt < 3 ? v1::JOB_STATE_RETRY_WAIT : v1::JOB_STATE_FAILED);
  }
  EXPECT_FALSE(Claim("a").has_value());
  v1::Run r = *jobs_->GetRun(run.id());
  EXPECT_EQ(r.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(r.jobs(0).attempts_size(), 3);
  // Each attempt had a fresh, increasing epoch.
  EXPECT_LT(r.jobs(0).attempts(0).epoch(), r.jobs(0).attempts(1).epoch());
}

TEST_F(PgJobStoreTest, BenchmarkFailureIsNotRetried) {
  Connect("a");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_FAILED).ok());
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_FAILED);
  EXPECT_FALSE(Claim("a").has_value());
}

// A suite_file job's completion adds the suite's jobs to its run once: a replay adds nothing, the
// run stays open until they end, and they point back at the job that read them.
TEST_F(PgJobStoreTest, ASuiteFileCompletionAddsItsJobsOnceAndKeepsTheRunOpen) {
  Connect("a");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  google::protobuf::RepeatedPtrField<v1::JobSpec> added;
  for (const char* name : {"api", "db"}) {
    v1::JobSpec* j = added.Add();
    j->set_name(name);
    j->set_max_attempts(3);
    j->mutable_command()->set_command("true");
  }
  v1::CompleteAttemptRequest done;
  done.set_attempt_id(a->attempt_id());
  done.set_epoch(a->epoch());
  done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
  ASSERT_TRUE(jobs_->CompleteAttempt(done, &added).ok());
  ASSERT_TRUE(jobs_->CompleteAttempt(done, &added).ok()) << "a replay is acknowledged";
  v1::Run now = *jobs_->GetRun(run.id());
  ASSERT_EQ(now.jobs_size(), 3) << now.DebugString();
  EXPECT_EQ(now.state(), v1::RUN_STATE_RUNNING) << "its new jobs are still to run";
  EXPECT_EQ(now.jobs(1).name(), "api");
  EXPECT_EQ(now.jobs(1).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(now.jobs(1).expanded_from_job_id(), now.jobs(0).id());
  EXPECT_EQ(now.jobs(2).expanded_from_job_id(), now.jobs(0).id());
  auto job = jobs_->JobOfAttempt(a->attempt_id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->run_job_names, (std::set<std::string>{"j0", "api", "db"}));
  for (int i = 0; i < 2; ++i) {
    auto next = Claim("a");
    ASSERT_TRUE(next.has_value());
    ASSERT_TRUE(Accept(*next, "a").ok());
    ASSERT_TRUE(Complete(*next, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  }
  EXPECT_EQ(jobs_->GetRun(run.id())->state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(PgJobStoreTest, StaleEpochAndWrongAgentAreRefused) {
  Connect("a");
  Connect("b");
  Submit(1);
  auto a = Claim("a");
  v1::Assign stale = *a;
  stale.set_epoch(a->epoch() + 1000);
  EXPECT_TRUE(absl::IsFailedPrecondition(Accept(stale, "a")));
  EXPECT_TRUE(absl::IsPermissionDenied(Accept(*a, "b")));
  EXPECT_TRUE(absl::IsFailedPrecondition(Complete(stale, v1::ATTEMPT_OUTCOME_SUCCEEDED).status()));
  v1::Assign unknown = *a;
  unknown.set_attempt_id(999999);
  EXPECT_TRUE(absl::IsNotFound(Accept(unknown, "a")));
  v1::UploadLogRequest up;
  up.set_attempt_id(a->attempt_id());
  up.set_epoch(stale.epoch());
  EXPECT_TRUE(absl::IsFailedPrecondition(jobs_->AppendLogs(up).status()));
}

TEST_F(PgJobStoreTest, CancelInEveryState) {
  Connect("a");
  // Queued: cancelled at once.
  v1::Run queued = Submit(1);
  ASSERT_TRUE(jobs_->CancelRun(queued.id(), "ops").ok());
  EXPECT_EQ(jobs_->GetRun(queued.id())->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(jobs_->GetRun(queued.id())->cancelled_by(), "ops");
  // Running: cancelling, the agent is told, its report ends it.
  v1::Run running = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  auto stops = jobs_->CancelRun(running.id(), "ops");
  ASSERT_TRUE(stops.ok());
  ASSERT_EQ(stops->size(), 1u);
  EXPECT_EQ((*stops)[0].agent, "a");
  EXPECT_EQ((*stops)[0].attempt_id, a->attempt_id());
  EXPECT_EQ(jobs_->GetRun(running.id())->state(), v1::RUN_STATE_CANCELLING);
  // The agent's heartbeat also carries the order (in case the first message was lost).
  v1::Heartbeat hb;
  auto* h = hb.add_held();
  h->set_attempt_id(a->attempt_id());
  h->set_running(true);
  EXPECT_EQ(*agents_->Heartbeat("a", hb), std::vector<int64_t>{a->attempt_id()});
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_CANCELLED).ok());
  EXPECT_EQ(jobs_->GetRun(running.id())->state(), v1::RUN_STATE_CANCELLED);
  // Assigned but not yet accepted: the accept is refused and the attempt ends.
  v1::Run assigned = Submit(1);
  auto b = Claim("a");
  ASSERT_TRUE(jobs_->CancelRun(assigned.id(), "ops").ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(Accept(*b, "a")));
  EXPECT_EQ(jobs_->GetRun(assigned.id())->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(LiveAttempts("a"), 0) << "the cancelled attempt must release the agent";
  // Retry-wait: cancelled at once.
  v1::Run retrying = Submit(1);
  auto c = Claim("a");
  ASSERT_TRUE(Complete(*c, v1::ATTEMPT_OUTCOME_INFRA_FAILURE).ok());
  EXPECT_EQ(StateOf(retrying.id()), v1::JOB_STATE_RETRY_WAIT);
  ASSERT_TRUE(jobs_->CancelRun(retrying.id(), "ci").ok());
  EXPECT_EQ(jobs_->GetRun(retrying.id())->state(), v1::RUN_STATE_CANCELLED);
  // Finished: cancel is a no-op, and the first canceller stays recorded.
  ASSERT_TRUE(jobs_->CancelRun(retrying.id(), "ops").ok());
  EXPECT_EQ(jobs_->GetRun(retrying.id())->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(jobs_->GetRun(retrying.id())->cancelled_by(), "ci");
  EXPECT_TRUE(absl::IsNotFound(jobs_->CancelRun(424242, "ops").status()));
}

TEST_F(PgJobStoreTest, ExpiredLeaseMakesAttemptLostAndKeepsTheAgentReserved) {
  Connect("a");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  Sql("UPDATE attempts SET lease_expires_at = now() - interval '1 second'");
  auto swept = jobs_->Sweep(absl::Minutes(10));
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->leases_expired, 1);
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_LOST);
  Submit(1);
  EXPECT_FALSE(Claim("a").has_value()) << "a LOST attempt keeps its node reserved";
  // The agent comes back still running it: the attempt resumes.
  Connect("a", {}, {a->attempt_id()});
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  EXPECT_EQ(jobs_->GetRun(run.id())->state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(PgJobStoreTest, LostBeyondLostAfterIsRetriedElsewhere) {
  Connect("a");
  Connect("b");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  Sql("UPDATE attempts SET lease_expires_at = now() - interval '1 second'");
  ASSERT_TRUE(jobs_->Sweep(absl::Minutes(10)).ok());
  Sql("UPDATE attempts SET lost_at = now() - interval '11 minutes'");
  auto swept = jobs_->Sweep(absl::Minutes(10));
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->lost_expired, 1);
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_RETRY_WAIT);
  auto b = Claim("b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->job_id(), a->job_id());
  // The old attempt's late report is fenced off.
  EXPECT_TRUE(absl::IsFailedPrecondition(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).status()));
  ASSERT_TRUE(Accept(*b, "b").ok());
  ASSERT_TRUE(Complete(*b, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  EXPECT_EQ(jobs_->GetRun(run.id())->state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(PgJobStoreTest, ReconnectWithoutTheAttemptEndsItAsInfrastructureFailure) {
  Connect("a");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  ASSERT_TRUE(Accept(*a, "a").ok());
  Connect("a");  // restarted, holds nothing
  EXPECT_EQ(StateOf(run.id()), v1::JOB_STATE_RETRY_WAIT);
  EXPECT_TRUE(Claim("a").has_value());
}

TEST_F(PgJobStoreTest, LogsAreIdempotentByAttemptAndSeq) {
  Connect("a");
  v1::Run run = Submit(1);
  auto a = Claim("a");
  v1::UploadLogRequest up;
  up.set_attempt_id(a->attempt_id());
  up.set_epoch(a->epoch());
  for (int i = 0; i < 3; ++i) {
    auto* c = up.add_chunks();
    c->set_seq(i);
    c->set_stream(v1::LOG_STREAM_STDOUT);
    c->set_data(std::string("line ") + char('0' + i) + std::string(1, '\0') + "\xff\n");
  }
  ASSERT_TRUE(jobs_->AppendLogs(up).ok());
  ASSERT_TRUE(jobs_->AppendLogs(up).ok());  // replay
  auto logs = jobs_->GetRunLogs(run.id(), 0, 100);
  ASSERT_TRUE(logs.ok());
  ASSERT_EQ(logs->chunks_size(), 3);
  EXPECT_EQ(logs->chunks(2).data(), std::string("line 2") + std::string(1, '\0') + "\xff\n")
      << "binary-safe";
  auto page = jobs_->GetRunLogs(run.id(), logs->chunks(0).id(), 1);
  EXPECT_EQ(page->chunks_size(), 1);
  EXPECT_EQ(page->chunks(0).seq(), 1);
  // The tail: the newest two, oldest first.
  auto tail = jobs_->GetRunLogTail(run.id(), 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->chunks_size(), 2);
  EXPECT_EQ(tail->chunks(0).seq(), 1);
  EXPECT_EQ(tail->chunks(1).seq(), 2);
  EXPECT_TRUE(absl::IsNotFound(jobs_->GetRunLogTail(999999, 2).status()));
}

TEST_F(PgJobStoreTest, ListRunsFiltersAndPages) {
  for (int i = 0; i < 5; ++i) Submit(1);
  v1::ListRunsRequest req;
  req.set_page_size(2);
  auto page1 = jobs_->ListRuns(req);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->runs_size(), 2);
  EXPECT_GT(page1->runs(0).id(), page1->runs(1).id());
  req.set_page_token(page1->next_page_token());
  auto page2 = jobs_->ListRuns(req);
  ASSERT_EQ(page2->runs_size(), 2);
  EXPECT_LT(page2->runs(0).id(), page1->runs(1).id());
  req.set_page_token("garbage");
  EXPECT_TRUE(absl::IsInvalidArgument(jobs_->ListRuns(req).status()));
  v1::ListRunsRequest filtered;
  filtered.set_branch("other");
  EXPECT_EQ(jobs_->ListRuns(filtered)->runs_size(), 0);
  filtered.set_branch("main");
  filtered.set_state(v1::RUN_STATE_QUEUED);
  EXPECT_EQ(jobs_->ListRuns(filtered)->runs_size(), 5);
}

TEST_F(PgJobStoreTest, DrainingAgentClaimsNothing) {
  Connect("a");
  Submit(1);
  auto drained = agents_->SetDraining("a", true, "ops");
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->drained_by(), "ops");
  EXPECT_FALSE(Claim("a").has_value());
  ASSERT_TRUE(agents_->SetDraining("a", false, "ops").ok());
  EXPECT_TRUE(Claim("a").has_value());
  EXPECT_TRUE(absl::IsNotFound(agents_->SetDraining("ghost", true, "ops").status()));
}

}  // namespace
}  // namespace perfgate::controller

namespace perfgate::controller {
namespace {

TEST_F(PgJobStoreTest, AJobPinnedToAnAgentWaitsForItAndCarriesItsOwnCommit) {
  Connect("a1");
  Connect("a2");
  v1::RunSpec spec;
  spec.set_commit("run-commit");
  for (const char* name : {"pinned", "free"}) {
    auto* j = spec.add_jobs();
    j->set_name(name);
    j->set_max_attempts(1);
    j->mutable_command()->set_command("true");
  }
  (*spec.mutable_jobs(0)->mutable_agent_selector())[kAgentNameLabel] = "a2";
  spec.mutable_jobs(0)->set_commit("job-commit");
  ASSERT_TRUE(jobs_->SubmitRun(spec).ok());
  // a1 may not take the older, pinned job: it gets the free one, at the run's commit.
  auto a = Claim("a1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->spec().name(), "free");
  EXPECT_EQ(a->commit(), "run-commit");
  auto b = Claim("a2");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->spec().name(), "pinned");
  EXPECT_EQ(b->commit(), "job-commit");
}

TEST_F(PgJobStoreTest, AnAaRunTakesTheNewestBaselinesCommitOrSaysThereIsNone) {
  Connect("a1");
  v1::RunSpec aa;
  aa.set_project("p");
  aa.set_branch("main");
  aa.set_suite_name("s");
  aa.set_kind(v1::RUN_KIND_EXPERIMENT);
  aa.set_aa(true);
  aa.add_jobs()->mutable_command()->set_command("true");
  auto refused = jobs_->SubmitRun(aa);
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("aa: no succeeded baseline run of suite s"),
            std::string::npos)
      << refused.status();

  for (const char* commit : {"old", "new"}) {
    v1::RunSpec base = aa;
    base.set_aa(false);
    base.set_kind(v1::RUN_KIND_BASELINE);
    base.set_commit(commit);
    base.mutable_jobs(0)->set_max_attempts(1);
    ASSERT_TRUE(jobs_->SubmitRun(base).ok());
    auto a = Claim("a1");
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(Accept(*a, "a1").ok());
    ASSERT_TRUE(Complete(*a, v1::ATTEMPT_OUTCOME_SUCCEEDED).ok());
  }
  auto run = jobs_->SubmitRun(aa);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->aa());
  EXPECT_EQ(run->commit(), "new");
  aa.set_commit("chosen");  // an explicit commit is kept
  EXPECT_EQ(jobs_->SubmitRun(aa)->commit(), "chosen");
}

// Idempotent submissions (issue 17): a request_id its submitter used before answers with the
// first run, also when the retries race; another spec under the same id is refused; another
// submitter's id is its own.
TEST_F(PgJobStoreTest, ARepeatedRequestIdAnswersWithTheFirstRunEvenWhenRetriesRace) {
  v1::RunSpec spec;
  spec.set_kind(v1::RUN_KIND_BASELINE);
  spec.set_branch("main");
  spec.set_commit("c0ffee");
  spec.set_submitted_by("ci");
  spec.set_request_id("cli-0123");
  auto* j = spec.add_jobs();
  j->set_name("j");
  j->set_max_attempts(1);
  j->mutable_command()->set_command("true");
  bool duplicate = true;
  auto first = jobs_->SubmitRun(spec, &duplicate);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(duplicate);
  auto again = jobs_->SubmitRun(spec, &duplicate);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(duplicate);
  EXPECT_EQ(again->id(), first->id());
  EXPECT_EQ(again->jobs_size(), 1);

  v1::RunSpec other = spec;
  other.set_commit("badc0de");
  auto clash = jobs_->SubmitRun(other, &duplicate);
  EXPECT_TRUE(absl::IsAlreadyExists(clash.status())) << clash.status();
  EXPECT_NE(clash.status().message().find("request_id: 'cli-0123' was used for run " +
                                          std::to_string(first->id())),
            std::string::npos)
      << clash.status();
  v1::RunSpec someone_else = spec;
  someone_else.set_submitted_by("ops");
  auto theirs = jobs_->SubmitRun(someone_else, &duplicate);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_FALSE(duplicate);
  EXPECT_NE(theirs->id(), first->id());

  // Eight retries of a new request at once: one run.
  spec.set_request_id("cli-race");
  std::vector<std::thread> threads;
  std::vector<int64_t> ids(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = jobs_->SubmitRun(spec);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) ids[i] = r->id();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  int64_t runs = 0;
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& tx) {
                    runs = tx.exec("SELECT count(*) FROM runs WHERE request_id = 'cli-race'")[0][0]
                               .as<int64_t>();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(runs, 1);
}

// After a PostgreSQL crash took back a claim committed asynchronously, the agent still runs an
// attempt the database does not know: its heartbeat lists it and the answer stops it (also one
// the database knows as another agent's). The agent's own live attempt is left alone.
TEST_F(PgJobStoreTest, AHeldAttemptTheDatabaseDoesNotKnowIsStopped) {
  Connect("a");
  Connect("b");
  Submit(1);
  auto mine = Claim("a");
  ASSERT_TRUE(Accept(*mine, "a").ok());
  Submit(1);
  auto theirs = Claim("b");
  ASSERT_TRUE(theirs.has_value());
  v1::Heartbeat hb;
  for (int64_t id : {mine->attempt_id(), int64_t{987654}, theirs->attempt_id()}) {
    auto* h = hb.add_held();
    h->set_attempt_id(id);
    h->set_running(true);
  }
  auto stop = agents_->Heartbeat("a", hb);
  ASSERT_TRUE(stop.ok()) << stop.status();
  std::sort(stop->begin(), stop->end());
  EXPECT_EQ(*stop, (std::vector<int64_t>{theirs->attempt_id(), 987654}));
}

}  // namespace
}  // namespace perfgate::controller

namespace perfgate::controller {
namespace {

// The log fence (issue 17): an attempt the controller gave up on takes no new lines (a replay of
// stored ones is answered OK), and once superseded by a later attempt it takes nothing at all.
TEST_F(PgJobStoreTest, AnExpiredAttemptsNewLinesAreRefusedAndASupersededOnesAltogether) {
  Connect("a1");
  Submit(1);
  auto a = Claim("a1");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(Accept(*a, "a1").ok());
  auto logs = [&](const v1::Assign& at, std::vector<int> seqs) {
    v1::UploadLogRequest r;
    r.set_attempt_id(at.attempt_id());
    r.set_epoch(at.epoch());
    for (int s : seqs) {
      auto* c = r.add_chunks();
      c->set_seq(s);
      c->set_stream(v1::LOG_STREAM_STDOUT);
      c->set_data("line\n");
    }
    return jobs_->AppendLogs(r).status();
  };
  ASSERT_TRUE(logs(*a, {0, 1}).ok());
  Sql("UPDATE attempts SET lease_expires_at = now() - interval '1 second'");
  ASSERT_TRUE(jobs_->Sweep(absl::Minutes(10)).ok());
  EXPECT_TRUE(logs(*a, {2}).ok()) << "LOST still takes its lines: it may resume";
  Sql("UPDATE attempts SET lost_at = now() - interval '11 minutes'");
  ASSERT_TRUE(jobs_->Sweep(absl::Minutes(10)).ok());
  absl::Status late = logs(*a, {2, 3});
  EXPECT_TRUE(absl::IsFailedPrecondition(late)) << late;
  EXPECT_NE(late.message().find("expired"), std::string::npos) << late;
  EXPECT_TRUE(logs(*a, {0, 1, 2}).ok()) << "a replay of stored lines";
  Connect("b1");
  auto b = Claim("b1");
  ASSERT_TRUE(b.has_value());
  absl::Status superseded = logs(*a, {0});
  EXPECT_TRUE(absl::IsFailedPrecondition(superseded)) << superseded;
  EXPECT_NE(superseded.message().find("superseded"), std::string::npos) << superseded;
  EXPECT_TRUE(logs(*b, {0}).ok());
}

}  // namespace
}  // namespace perfgate::controller
