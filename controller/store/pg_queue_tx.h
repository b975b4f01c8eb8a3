// The queue's transaction-level API: steps that run inside a caller's pqxx transaction, shared
// by the Pg stores (jobs, agents, results, analysis). The rules they apply come from
// controller/queue/ (job_state); the events they send from controller/events/.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/events/controller_event.h"
#include "controller/queue/job_state.h"
#include "controller/queue/job_store.h"
#include "controller/store/pg_pool.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller::pgq {

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
// Sends `e` to every replica when the transaction commits.
void Notify(pqxx::work& tx, const ControllerEvent& e);
void NotifyRun(pqxx::work& tx, int64_t run_id);
// The columns of a run row, in the order RunFromRow reads them (jobs are not loaded).
extern const char kRunColumns[];
void RunFromRow(const pqxx::row& r, v1::Run* run);
// Inserts a run and its jobs (QUEUED) from a validated spec and wakes dispatchers and watchers.
// What a request_id is checked against when reused: a digest of the spec without it.
std::string RequestDigest(const v1::RunSpec& spec);
absl::StatusOr<int64_t> InsertRun(pqxx::work& tx, const v1::RunSpec& spec);
// Inserts jobs (QUEUED) into a run at indexes first_idx..; `expanded_from`: the suite_file job
// that read them (0: none).
absl::Status InsertJobs(pqxx::work& tx, int64_t run_id, int first_idx,
                        const google::protobuf::RepeatedPtrField<v1::JobSpec>& jobs,
                        int64_t expanded_from);
void NotifyWork(pqxx::work& tx);
// A run with its jobs and attempts. NOT_FOUND for an unknown id.
absl::StatusOr<v1::Run> LoadRun(pqxx::work& tx, int64_t id);
// An A/A spec without a commit gets its baseline's: the newest succeeded baseline run's.
// INVALID_ARGUMENT when there is none.
absl::Status FillAaCommit(pqxx::work& tx, v1::RunSpec* spec);
// Cancels every job of the run (OnCancelRequested), the jobs' message saying `why`; appends
// the live attempts whose agents must stop (also sent as NOTIFYs). NOT_FOUND for an unknown
// run; idempotent.
absl::Status CancelRunTx(pqxx::work& tx, int64_t id, const std::string& why,
                         std::vector<StopOrder>* stops);
std::string Interval(absl::Duration d);
// The errors every epoch-fenced call gives, worded once.
absl::Status AttemptNotFound(int64_t attempt_id);
absl::Status StaleEpoch(int64_t attempt_id, int64_t epoch);
// The results fence: the caller's epoch is the attempt's, and the attempt is its job's current
// one (a later attempt supersedes it; its late results and blobs are refused).
absl::Status CheckCurrentAttempt(int64_t attempt_id, int64_t caller_epoch, int64_t attempt_epoch,
                                 int64_t job_epoch);
}  // namespace perfgate::controller::pgq
