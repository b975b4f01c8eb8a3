// JobStore over PostgreSQL. All state changes are single transactions; all lease arithmetic
// uses the database's now(). What other controller replicas must learn is sent as a NOTIFY
// (controller/events/controller_event.h): work became claimable, a run's state changed, an
// attempt is to stop. Hot-path steps send nothing: PostgreSQL serialises the commits of
// notifying transactions, and this replica wakes its own threads in-process. The methods live
// in three files by idea: runs and logs (pg_job_store.cc), claims and the attempt lifecycle
// (pg_job_claims.cc), lease expiry (pg_job_sweep.cc). Safe for concurrent use.
#pragma once

#include <map>
#include <optional>
#include <set>

#include "absl/synchronization/mutex.h"
#include "controller/queue/job_state.h"
#include "controller/queue/job_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgJobStore : public JobStore {
 public:
  PgJobStore(PgPool& pool, RetryPolicy retry, QueueTimings timings)
      : pool_(pool), retry_(retry), timings_(timings) {}

  absl::StatusOr<v1::Run> SubmitRun(const v1::RunSpec& spec, bool* duplicate = nullptr) override;
  absl::StatusOr<v1::Run> GetRun(int64_t id) override;
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& req) override;
  absl::StatusOr<std::vector<StopOrder>> CancelRun(int64_t id, const std::string& actor) override;
  absl::StatusOr<std::vector<Claim>> ClaimJobs(const std::vector<std::string>& agents) override;
  absl::Status AcceptAttempt(const v1::AcceptAttemptRequest& req) override;
  absl::StatusOr<int64_t> CompleteAttempt(
      const v1::CompleteAttemptRequest& req,
      const google::protobuf::RepeatedPtrField<v1::JobSpec>* expansion = nullptr) override;
  absl::StatusOr<AttemptJob> JobOfAttempt(int64_t attempt_id) override;
  absl::StatusOr<std::string> AgentOfAttempt(int64_t attempt_id) override;
  absl::StatusOr<int64_t> AppendLogs(const v1::UploadLogRequest& req) override;
  absl::StatusOr<v1::GetRunLogsResponse> GetRunLogs(int64_t run_id, int64_t after_id,
                                                    int limit) override;
  absl::StatusOr<v1::GetRunLogsResponse> GetRunLogTail(int64_t run_id, int limit) override;
  absl::StatusOr<SweepResult> Sweep(absl::Duration lost_after) override;
  absl::Status ExtendLiveLeases(absl::Duration grace) override;
  absl::StatusOr<std::map<std::string, int64_t>> CountJobsByState() override;

 private:
  // Runs' commits never change: claims look each up once. Filled only from committed claims,
  // so a run found in the cache has been started (QUEUED -> RUNNING) by a committed claim.
  std::optional<std::string> CachedCommit(int64_t run_id);
  void RememberCommits(const std::map<int64_t, std::string>& commits);

  // What one claim transaction learns about runs as it assigns their jobs.
  struct ClaimState {
    std::map<int64_t, std::string> commits;        // every run seen
    std::map<int64_t, std::string> fresh_commits;  // looked up (not cached): remember on commit
    std::set<int64_t> started_runs;                // QUEUED runs this claim starts
  };
  // The run's commit, from this claim, the cache or the database.
  std::string RunCommit(pqxx::work& tx, int64_t run_id, ClaimState* st);
  // Creates the attempt of `job` (a row of the claim query) for `agent` and marks the job
  // ASSIGNED. INTERNAL if the stored spec cannot be read.
  absl::StatusOr<Claim> AssignJob(pqxx::work& tx, const pqxx::row& job, const std::string& agent,
                                  ClaimState* st);

  PgPool& pool_;
  const RetryPolicy retry_;
  const QueueTimings timings_;
  absl::Mutex cache_mu_;
  std::map<int64_t, std::string> commit_cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace perfgate::controller
