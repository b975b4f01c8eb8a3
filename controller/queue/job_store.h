// The durable queue's interfaces. JobStore: runs, jobs, attempts, logs. AgentStore: the agents
// and their sessions. Implementations must be safe for concurrent use from any thread, and make
// every operation that changes state atomic (one transaction).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfgate/v1/agent_gateway.pb.h"
#include "perfgate/v1/controller.pb.h"

namespace perfgate::controller {

// Where a cancel must be delivered.
struct StopOrder {
  std::string agent;
  int64_t attempt_id = 0;
};

struct SweepResult {
  int leases_expired = 0;  // attempts that became LOST
  int lost_expired = 0;    // LOST attempts given up on (their jobs retried or failed)
  int agents_offline = 0;
};

struct QueueTimings {
  absl::Duration assigned_lease = absl::Seconds(30);  // refreshed by heartbeats
  absl::Duration agent_offline_after = absl::Seconds(30);
};

struct AttemptJob {
  int64_t run_id = 0;
  v1::JobSpec spec;
  std::set<std::string> run_job_names;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Inserts the run with its jobs (QUEUED) in one transaction. `spec` must be validated. With a
  // spec.request_id its submitter used before, the run that made instead (*duplicate set), or
  // ALREADY_EXISTS when that run's spec was another.
  virtual absl::StatusOr<v1::Run> SubmitRun(const v1::RunSpec& spec,
                                            bool* duplicate = nullptr) = 0;
  // NOT_FOUND for an unknown id.
  virtual absl::StatusOr<v1::Run> GetRun(int64_t id) = 0;
  // INVALID_ARGUMENT for a bad page token.
  virtual absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& req) = 0;
  // Cancels every job of the run (see OnCancelRequested). Returns the live attempts whose
  // agents must be told to stop. NOT_FOUND for an unknown id. Idempotent.
  virtual absl::StatusOr<std::vector<StopOrder>> CancelRun(int64_t id,
                                                           const std::string& actor) = 0;

  // For each agent in turn, claims the oldest claimable job whose selector the agent's labels
  // satisfy and creates an ASSIGNED attempt for it; agents that are busy or draining, or for
  // which nothing matches, get nothing. One transaction for all, committed without waiting
  // for the disk: a claim lost in a crash was never accepted, so its job is simply claimed
  // again. `waited` is how long the job had been claimable (database clock).
  struct Claim {
    std::string agent;
    v1::Assign assign;
    absl::Duration waited;
  };
  virtual absl::StatusOr<std::vector<Claim>> ClaimJobs(const std::vector<std::string>& agents) = 0;
  // One agent (a convenience over ClaimJobs).
  absl::StatusOr<std::optional<v1::Assign>> ClaimJob(const std::string& agent,
                                                     absl::Duration* waited) {
    auto claims = ClaimJobs({agent});
    if (!claims.ok()) return claims.status();
    if (claims->empty()) return std::optional<v1::Assign>();
    if (waited) *waited = claims->front().waited;
    return std::optional<v1::Assign>(std::move(claims->front().assign));
  }
  // ASSIGNED -> RUNNING (idempotent). NOT_FOUND unknown attempt; PERMISSION_DENIED another
  // agent's; FAILED_PRECONDITION stale epoch, already ended, or job cancelled meanwhile (the
  // attempt is then ended as cancelled).
  virtual absl::Status AcceptAttempt(const v1::AcceptAttemptRequest& req) = 0;
  // Ends the attempt and moves its job on. A replay of the same completion is OK.
  // FAILED_PRECONDITION for a stale epoch or a different earlier outcome.
  // `expansion`: the jobs a suite_file attempt read, added to its run in the same transaction
  // when the attempt ends its job as succeeded (never twice: a replay ends nothing).
  // Returns the run id.
  virtual absl::StatusOr<int64_t> CompleteAttempt(
      const v1::CompleteAttemptRequest& req,
      const google::protobuf::RepeatedPtrField<v1::JobSpec>* expansion = nullptr) = 0;
  // The job an attempt belongs to, and the names of its run's jobs. NOT_FOUND unknown attempt.
  virtual absl::StatusOr<AttemptJob> JobOfAttempt(int64_t attempt_id) = 0;
  // The agent an attempt was assigned to (it never changes). NOT_FOUND for an unknown attempt.
  virtual absl::StatusOr<std::string> AgentOfAttempt(int64_t attempt_id) = 0;
  // Stores log chunks; chunks already stored (same attempt, seq) are skipped. Returns run id.
  virtual absl::StatusOr<int64_t> AppendLogs(const v1::UploadLogRequest& req) = 0;
  virtual absl::StatusOr<v1::GetRunLogsResponse> GetRunLogs(int64_t run_id, int64_t after_id,
                                                            int limit) = 0;
  // The newest `limit` chunks of a run's logs, oldest first (the run page shows the tail).
  virtual absl::StatusOr<v1::GetRunLogsResponse> GetRunLogTail(int64_t run_id, int limit) = 0;

  // Lease housekeeping (a singleton duty: a no-op while another replica holds it).
  virtual absl::StatusOr<SweepResult> Sweep(absl::Duration lost_after) = 0;
  // On controller start: no lease expires within `grace` from now.
  virtual absl::Status ExtendLiveLeases(absl::Duration grace) = 0;
  // For metrics: jobs per state.
  virtual absl::StatusOr<std::map<std::string, int64_t>> CountJobsByState() = 0;
};

struct SessionStart {
  bool draining = false;
  std::vector<int64_t> stop_attempts;  // held attempts the agent must stop
};

class AgentStore {
 public:
  virtual ~AgentStore() = default;
  // Registers (or updates) the agent as connected to `controller_id` and reconciles its
  // attempts with what it says it holds: live attempts it no longer holds end as
  // infrastructure failures; LOST ones it still runs resume.
  virtual absl::StatusOr<SessionStart> StartSession(const v1::Hello& hello,
                                                    const std::string& controller_id) = 0;
  // Refreshes liveness and leases. Returns held attempts the agent must stop (cancelled or
  // superseded).
  virtual absl::StatusOr<std::vector<int64_t>> Heartbeat(const std::string& agent,
                                                         const v1::Heartbeat& hb) = 0;
  virtual absl::Status EndSession(const std::string& agent, const std::string& controller_id) = 0;
  virtual absl::StatusOr<std::vector<v1::Agent>> ListAgents() = 0;
  // NOT_FOUND for an unknown agent.
  virtual absl::StatusOr<v1::Agent> SetDraining(const std::string& name, bool draining,
                                                const std::string& actor) = 0;
};

using JobStorePtr = std::unique_ptr<JobStore>;
using AgentStorePtr = std::unique_ptr<AgentStore>;

}  // namespace perfgate::controller
