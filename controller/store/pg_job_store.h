// JobStore over PostgreSQL. All state changes are single transactions; all lease arithmetic
// uses the database's now(). What other controller replicas must learn is sent as NOTIFY
// perfgate_events: 'work' when something became claimable, 'run:<id>' when a run's state
// changed, 'stop:<attempt>:<agent>' for cancels. Hot-path steps send nothing: PostgreSQL
// serialises the commits of notifying transactions, and this replica wakes its own threads
// in-process. Safe for concurrent use.
#pragma once

#include <map>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "controller/queue/job_state.h"
#include "controller/queue/job_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

inline constexpr char kEventsChannel[] = "perfgate_events";

class PgJobStore : public JobStore {
 public:
  PgJobStore(PgPool& pool, RetryPolicy retry, QueueTimings timings)
      : pool_(pool), retry_(retry), timings_(timings) {}

  absl::StatusOr<v1::Run> SubmitRun(const v1::RunSpec& spec) override;
  absl::StatusOr<v1::Run> GetRun(int64_t id) override;
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& req) override;
  absl::StatusOr<std::vector<StopOrder>> CancelRun(int64_t id) override;
  absl::StatusOr<std::vector<Claim>> ClaimJobs(const std::vector<std::string>& agents) override;
  absl::Status AcceptAttempt(const v1::AcceptAttemptRequest& req) override;
  absl::StatusOr<int64_t> CompleteAttempt(const v1::CompleteAttemptRequest& req) override;
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

  PgPool& pool_;
  const RetryPolicy retry_;
  const QueueTimings timings_;
  absl::Mutex cache_mu_;
  std::map<int64_t, std::string> commit_cache_ ABSL_GUARDED_BY(cache_mu_);
};

// Shared by the Pg stores (pg_queue_tx.cc): steps that run inside a caller's transaction.
namespace pgq {
// Ends a live attempt with `outcome` (attempt state = `attempt_state`, default the outcome's
// name) and moves its job per OnAttemptEnded when the attempt is still the job's current one.
// Returns the run id.
// With `expect_epoch` set, FAILED_PRECONDITION for another epoch; an attempt that already
// ended with the same outcome is OK (a replay) and changes nothing; with another outcome,
// FAILED_PRECONDITION.
//
// A job's end can end its run. With `defer_run_check`, the run is not looked at here (its row
// lock would serialise every completion of the run through commit); the caller then calls
// FinishRunIfDone after committing. *job_ended (optional) says whether the job became terminal.
absl::StatusOr<int64_t> EndAttempt(pqxx::work& tx, const RetryPolicy& retry, int64_t attempt_id,
                                   v1::AttemptOutcome outcome, int exit_code,
                                   const std::string& message, int64_t log_chunks,
                                   const std::string& attempt_state = "",
                                   std::optional<int64_t> expect_epoch = std::nullopt,
                                   bool defer_run_check = false, bool* job_ended = nullptr);
// After a job of the run ended and committed: if no job of the run is left open, settle the
// run's state (under its row lock). Correct under concurrency because each caller checks after
// its own commit, so the last job to commit always sees all the others.
absl::Status FinishRunIfDone(PgPool& pool, int64_t run_id);
// Recomputes the run's state from its jobs (locking the run row, which serialises the check
// of concurrent job changes); notifies watchers when it changed.
void RefreshRunState(pqxx::work& tx, int64_t run_id);
// For writes whose loss in a crash the protocol recovers from: commit without the fsync wait.
void AsyncCommit(pqxx::work& tx);
void NotifyRun(pqxx::work& tx, int64_t run_id);
// The columns of a run row, in the order RunFromRow reads them (jobs are not loaded).
extern const char kRunColumns[];
void RunFromRow(const pqxx::row& r, v1::Run* run);
// Inserts a run and its jobs (QUEUED) from a validated spec and wakes dispatchers and watchers.
absl::StatusOr<int64_t> InsertRun(pqxx::work& tx, const v1::RunSpec& spec);
void NotifyWork(pqxx::work& tx);
std::string Interval(absl::Duration d);
// The errors every epoch-fenced call gives, worded once.
absl::Status AttemptNotFound(int64_t attempt_id);
absl::Status StaleEpoch(int64_t attempt_id, int64_t epoch);
}  // namespace pgq

}  // namespace perfgate::controller
