#include "controller/queue/job_state.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace perfgate::controller {
namespace {

template <typename Enum, typename Descriptor>
std::string ShortName(Enum v, const Descriptor* d, absl::string_view prefix) {
  const auto* ev = d->FindValueByNumber(static_cast<int>(v));
  if (!ev) return "UNSPECIFIED";
  std::string n = ev->name();
  return absl::StartsWith(n, prefix) ? n.substr(prefix.size()) : n;
}

template <typename Enum, typename Descriptor>
Enum ParseShort(const std::string& s, const Descriptor* d, absl::string_view prefix) {
  const auto* ev = d->FindValueByName(std::string(prefix) + s);
  return ev ? static_cast<Enum>(ev->number()) : static_cast<Enum>(0);
}

}  // namespace

std::string JobStateName(JobState s) {
  return ShortName(s, v1::JobState_descriptor(), "JOB_STATE_");
}
JobState ParseJobState(const std::string& s) {
  return ParseShort<JobState>(s, v1::JobState_descriptor(), "JOB_STATE_");
}
std::string RunStateName(RunState s) {
  return ShortName(s, v1::RunState_descriptor(), "RUN_STATE_");
}
RunState ParseRunState(const std::string& s) {
  return ParseShort<RunState>(s, v1::RunState_descriptor(), "RUN_STATE_");
}
std::string OutcomeName(AttemptOutcome o) {
  return ShortName(o, v1::AttemptOutcome_descriptor(), "ATTEMPT_OUTCOME_");
}
AttemptOutcome ParseOutcome(const std::string& s) {
  return ParseShort<AttemptOutcome>(s, v1::AttemptOutcome_descriptor(), "ATTEMPT_OUTCOME_");
}
std::string RunKindName(v1::RunKind k) {
  return ShortName(k, v1::RunKind_descriptor(), "RUN_KIND_");
}
v1::RunKind ParseRunKind(const std::string& s) {
  return ParseShort<v1::RunKind>(s, v1::RunKind_descriptor(), "RUN_KIND_");
}

bool IsTerminal(JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELLED;
}

absl::Duration RetryBackoff(const RetryPolicy& p, int attempts_made) {
  absl::Duration d = p.base_backoff;
  for (int i = 1; i < attempts_made && d < p.max_backoff; ++i) d *= 2;
  return std::min(d, p.max_backoff);
}

JobTransition OnAttemptEnded(const RetryPolicy& p, JobState current, AttemptOutcome outcome,
                             int attempts_made, int max_attempts) {
  if (current == v1::JOB_STATE_CANCELLING || current == v1::JOB_STATE_CANCELLED) {
    return {v1::JOB_STATE_CANCELLED, absl::ZeroDuration(), "cancelled"};
  }
  switch (outcome) {
    case v1::ATTEMPT_OUTCOME_SUCCEEDED:
      return {v1::JOB_STATE_SUCCEEDED, absl::ZeroDuration(), ""};
    case v1::ATTEMPT_OUTCOME_FAILED:
      return {v1::JOB_STATE_FAILED, absl::ZeroDuration(), "the job failed (not retried)"};
    case v1::ATTEMPT_OUTCOME_CANCELLED:
      return {v1::JOB_STATE_CANCELLED, absl::ZeroDuration(), "cancelled"};
    case v1::ATTEMPT_OUTCOME_INFRA_FAILURE:
    default:
      if (attempts_made < max_attempts) {
        return {v1::JOB_STATE_RETRY_WAIT, RetryBackoff(p, attempts_made),
                "infrastructure failure; retrying (attempt " + std::to_string(attempts_made) +
                    " of " + std::to_string(max_attempts) + " used)"};
      }
      return {
          v1::JOB_STATE_FAILED, absl::ZeroDuration(),
          "infrastructure failure on every one of " + std::to_string(max_attempts) + " attempts"};
  }
}

std::string JobMessage(const JobTransition& t, const std::string& agent_message) {
  if (agent_message.empty()) return t.message;
  if (t.message.empty()) return agent_message;
  return t.message + ": " + agent_message;
}

JobState OnLeaseExpired(JobState current) {
  if (IsTerminal(current)) return current;
  return current == v1::JOB_STATE_CANCELLING ? v1::JOB_STATE_CANCELLED : v1::JOB_STATE_LOST;
}

JobState OnCancelRequested(JobState current) {
  switch (current) {
    case v1::JOB_STATE_QUEUED:
    case v1::JOB_STATE_RETRY_WAIT:
    case v1::JOB_STATE_LOST:  // nothing runs that we can reach; the attempt keeps the node reserved
      return v1::JOB_STATE_CANCELLED;
    case v1::JOB_STATE_ASSIGNED:
    case v1::JOB_STATE_RUNNING:
      return v1::JOB_STATE_CANCELLING;
    default:
      return current;
  }
}

JobCounts CountJobs(const std::vector<JobState>& jobs) {
  JobCounts c;
  for (JobState s : jobs) {
    ++c.total;
    c.terminal += IsTerminal(s);
    c.failed += s == v1::JOB_STATE_FAILED;
    c.cancelled += s == v1::JOB_STATE_CANCELLED;
    c.started += s != v1::JOB_STATE_QUEUED;
  }
  return c;
}

RunState DeriveRunState(const JobCounts& jobs, bool cancel_requested) {
  if (jobs.terminal == jobs.total) {
    if (jobs.failed > 0) return v1::RUN_STATE_FAILED;
    if (jobs.cancelled > 0 || cancel_requested) return v1::RUN_STATE_CANCELLED;
    return v1::RUN_STATE_SUCCEEDED;
  }
  if (cancel_requested) return v1::RUN_STATE_CANCELLING;
  return jobs.started > 0 ? v1::RUN_STATE_RUNNING : v1::RUN_STATE_QUEUED;
}

bool IsTerminal(RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED || s == v1::RUN_STATE_CANCELLED;
}

}  // namespace perfgate::controller
