#include "controller/queue/job_state.h"

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

RetryPolicy Policy() {
  RetryPolicy p;
  p.base_backoff = absl::Seconds(10);
  p.max_backoff = absl::Seconds(60);
  return p;
}

TEST(JobStateTest, NamesRoundTrip) {
  for (int s = 1; s <= v1::JobState_MAX; ++s) {
    auto st = static_cast<JobState>(s);
    EXPECT_EQ(ParseJobState(JobStateName(st)), st) << JobStateName(st);
  }
  EXPECT_EQ(JobStateName(v1::JOB_STATE_RETRY_WAIT), "RETRY_WAIT");
  EXPECT_EQ(ParseJobState("NOPE"), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(RunStateName(v1::RUN_STATE_CANCELLING), "CANCELLING");
  EXPECT_EQ(ParseOutcome("INFRA_FAILURE"), v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
}

TEST(JobStateTest, BackoffDoublesAndCaps) {
  RetryPolicy p = Policy();
  EXPECT_EQ(RetryBackoff(p, 1), absl::Seconds(10));
  EXPECT_EQ(RetryBackoff(p, 2), absl::Seconds(20));
  EXPECT_EQ(RetryBackoff(p, 3), absl::Seconds(40));
  EXPECT_EQ(RetryBackoff(p, 4), absl::Seconds(60));
  EXPECT_EQ(RetryBackoff(p, 30), absl::Seconds(60));
}

TEST(JobStateTest, SuccessAndBenchmarkFailureAreFinal) {
  EXPECT_EQ(
      OnAttemptEnded(Policy(), v1::JOB_STATE_RUNNING, v1::ATTEMPT_OUTCOME_SUCCEEDED, 1, 3).next,
      v1::JOB_STATE_SUCCEEDED);
  // A benchmark failing its own checks is not retried, even with attempts left.
  EXPECT_EQ(OnAttemptEnded(Policy(), v1::JOB_STATE_RUNNING, v1::ATTEMPT_OUTCOME_FAILED, 1, 3).next,
            v1::JOB_STATE_FAILED);
}

TEST(JobStateTest, InfrastructureFailureRetriesThenFails) {
  auto t1 =
      OnAttemptEnded(Policy(), v1::JOB_STATE_RUNNING, v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 1, 3);
  EXPECT_EQ(t1.next, v1::JOB_STATE_RETRY_WAIT);
  EXPECT_EQ(t1.retry_after, absl::Seconds(10));
  auto t2 =
      OnAttemptEnded(Policy(), v1::JOB_STATE_ASSIGNED, v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 2, 3);
  EXPECT_EQ(t2.next, v1::JOB_STATE_RETRY_WAIT);
  EXPECT_EQ(t2.retry_after, absl::Seconds(20));
  auto t3 =
      OnAttemptEnded(Policy(), v1::JOB_STATE_RUNNING, v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 3, 3);
  EXPECT_EQ(t3.next, v1::JOB_STATE_FAILED);
  EXPECT_NE(t3.message.find("3 attempts"), std::string::npos);
}

TEST(JobStateTest, CancelledJobStaysCancelledWhateverTheAgentSays) {
  for (auto outcome : {v1::ATTEMPT_OUTCOME_SUCCEEDED, v1::ATTEMPT_OUTCOME_FAILED,
                       v1::ATTEMPT_OUTCOME_INFRA_FAILURE, v1::ATTEMPT_OUTCOME_CANCELLED}) {
    EXPECT_EQ(OnAttemptEnded(Policy(), v1::JOB_STATE_CANCELLING, outcome, 1, 3).next,
              v1::JOB_STATE_CANCELLED);
  }
}

TEST(JobStateTest, CancelFromEveryState) {
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_QUEUED), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_RETRY_WAIT), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_LOST), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_ASSIGNED), v1::JOB_STATE_CANCELLING);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_RUNNING), v1::JOB_STATE_CANCELLING);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_CANCELLING), v1::JOB_STATE_CANCELLING);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_SUCCEEDED), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(OnCancelRequested(v1::JOB_STATE_FAILED), v1::JOB_STATE_FAILED);
}

TEST(JobStateTest, LeaseExpiryLosesRunningJobsAndEndsCancellingOnes) {
  EXPECT_EQ(OnLeaseExpired(v1::JOB_STATE_ASSIGNED), v1::JOB_STATE_LOST);
  EXPECT_EQ(OnLeaseExpired(v1::JOB_STATE_RUNNING), v1::JOB_STATE_LOST);
  EXPECT_EQ(OnLeaseExpired(v1::JOB_STATE_LOST), v1::JOB_STATE_LOST);
  EXPECT_EQ(OnLeaseExpired(v1::JOB_STATE_CANCELLING), v1::JOB_STATE_CANCELLED);
  for (JobState done : {v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED})
    EXPECT_EQ(OnLeaseExpired(done), done);
}

TEST(JobStateTest, RunStateFromJobs) {
  using v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED,
      v1::JOB_STATE_CANCELLED;
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_QUEUED, JOB_STATE_QUEUED}), false),
            v1::RUN_STATE_QUEUED);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_QUEUED, JOB_STATE_RUNNING}), false),
            v1::RUN_STATE_RUNNING);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_SUCCEEDED, JOB_STATE_QUEUED}), false),
            v1::RUN_STATE_RUNNING);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_SUCCEEDED, JOB_STATE_SUCCEEDED}), false),
            v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_SUCCEEDED, JOB_STATE_FAILED}), false),
            v1::RUN_STATE_FAILED);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_CANCELLED, JOB_STATE_SUCCEEDED}), true),
            v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_CANCELLED, JOB_STATE_RUNNING}), true),
            v1::RUN_STATE_CANCELLING);
  EXPECT_EQ(DeriveRunState(CountJobs({JOB_STATE_FAILED, JOB_STATE_CANCELLED}), true),
            v1::RUN_STATE_FAILED);
}

}  // namespace
}  // namespace perfgate::controller
