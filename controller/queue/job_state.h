// The job/attempt state machine as pure functions: what a job becomes when its attempt ends,
// when it is cancelled, when its lease runs out; how long a retry waits; what state a run is
// in given its jobs. The stores apply these decisions inside their transactions, so the rules
// live here once and are unit-tested without a database.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

using v1::AttemptOutcome;
using v1::JobState;
using v1::RunState;

// Database spelling: "QUEUED", "RUNNING", …
std::string JobStateName(JobState s);
JobState ParseJobState(const std::string& s);  // JOB_STATE_UNSPECIFIED if unknown
std::string RunStateName(RunState s);
RunState ParseRunState(const std::string& s);
std::string OutcomeName(AttemptOutcome o);
AttemptOutcome ParseOutcome(const std::string& s);
std::string RunKindName(v1::RunKind k);
v1::RunKind ParseRunKind(const std::string& s);

bool IsTerminal(JobState s);

struct RetryPolicy {
  int default_max_attempts = 3;
  absl::Duration base_backoff = absl::Seconds(10);
  absl::Duration max_backoff = absl::Minutes(5);
};

// Backoff before attempt number `attempts_made + 1`: base × 2^(attempts_made-1), capped.
absl::Duration RetryBackoff(const RetryPolicy& p, int attempts_made);

struct JobTransition {
  JobState next;
  absl::Duration retry_after = absl::ZeroDuration();  // meaningful for RETRY_WAIT
  std::string message;
};

// The job's attempt ended with `outcome`. `current` is the job's state (RUNNING, ASSIGNED,
// CANCELLING or LOST). Infrastructure failures retry while attempts remain; a benchmark's own
// failure does not; a cancelled job stays cancelled whatever the agent says.
JobTransition OnAttemptEnded(const RetryPolicy& p, JobState current, AttemptOutcome outcome,
                             int attempts_made, int max_attempts);

// The job's message after a transition: the state machine's reason, then the agent's words.
std::string JobMessage(const JobTransition& t, const std::string& agent_message);

// Cancel requested. FAILED_PRECONDITION is never returned: cancelling a finished job is a
// no-op (returns the same state), so cancel is idempotent in every state.
JobState OnCancelRequested(JobState current);

// The job's current attempt stopped answering (its lease ran out). A job being cancelled has
// nothing left to reach and is cancelled; a running one is LOST (its agent stays reserved until
// it reports back or lost_after passes); a job already finished stays as it is.
JobState OnLeaseExpired(JobState current);

// How many of a run's jobs are in which kind of state.
struct JobCounts {
  int64_t total = 0;
  int64_t terminal = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t started = 0;  // not QUEUED
};
JobCounts CountJobs(const std::vector<JobState>& jobs);

// The run's state from its jobs' states.
RunState DeriveRunState(const JobCounts& jobs, bool cancel_requested);
bool IsTerminal(RunState s);

}  // namespace perfgate::controller
