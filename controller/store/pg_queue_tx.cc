// The queue's transaction steps (pg_queue_tx.h).
#include "controller/store/pg_queue_tx.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/json/proto_json.h"
#include "common/status/macros.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller::pgq {

std::string Interval(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d), " milliseconds");
}

absl::Status AttemptNotFound(int64_t attempt_id) {
  return absl::NotFoundError(absl::StrCat("attempt ", attempt_id, " not found"));
}

absl::Status StaleEpoch(int64_t attempt_id, int64_t epoch) {
  return absl::FailedPreconditionError(
      absl::StrCat("attempt ", attempt_id, ": stale epoch ", epoch));
}

absl::Status CheckCurrentAttempt(int64_t attempt_id, int64_t caller_epoch, int64_t attempt_epoch,
                                 int64_t job_epoch) {
  if (caller_epoch != attempt_epoch) return StaleEpoch(attempt_id, caller_epoch);
  if (attempt_epoch != job_epoch)
    return absl::FailedPreconditionError(
        absl::StrCat("attempt ", attempt_id, ": superseded by a later attempt of its job"));
  return absl::OkStatus();
}

void Notify(pqxx::work& tx, const ControllerEvent& e) {
  Exec(tx, "SELECT pg_notify($1, $2)", kEventsChannel, EncodeEvent(e));
}

void NotifyRun(pqxx::work& tx, int64_t run_id) { Notify(tx, ControllerEvent::RunChanged(run_id)); }

const char kRunColumns[] =
    "id, state, project, branch, commit_sha, kind, suite_name, extract(epoch from "
    "created_at)::float8, "
    "extract(epoch from finished_at)::float8, baseline_branch, baseline_runs, "
    "coalesce(against_run_id, 0), verdict, aa, coalesce(confirms_run_id, 0), analysed_at IS NOT "
    "NULL, "
    "coalesce((SELECT c.id FROM runs c WHERE c.confirms_run_id = runs.id), 0), submitted_by, "
    "cancelled_by, extract(epoch from logs_removed_at)::float8, "
    "extract(epoch from profiles_removed_at)::float8, coalesce(bisection_id, 0)";

void RunFromRow(const pqxx::row& r, v1::Run* run) {
  run->set_id(r[0].as<int64_t>());
  run->set_state(ParseRunState(r[1].as<std::string>()));
  run->set_project(r[2].as<std::string>());
  run->set_branch(r[3].as<std::string>());
  run->set_commit(r[4].as<std::string>());
  run->set_kind(ParseRunKind(r[5].as<std::string>()));
  run->set_suite_name(r[6].as<std::string>());
  SetTimestamp(r[7], run->mutable_created_at());
  SetTimestamp(r[8], run->mutable_finished_at());
  run->set_baseline_branch(r[9].as<std::string>());
  run->set_baseline_runs(r[10].as<int>());
  run->set_against_run_id(r[11].as<int64_t>());
  run->set_verdict(r[12].as<std::string>());
  run->set_aa(r[13].as<bool>());
  run->set_confirms_run_id(r[14].as<int64_t>());
  run->set_analysed(r[15].as<bool>());
  run->set_confirmed_by_run_id(r[16].as<int64_t>());
  run->set_submitted_by(r[17].as<std::string>());
  run->set_cancelled_by(r[18].as<std::string>());
  if (!r[19].is_null()) SetTimestamp(r[19], run->mutable_logs_removed_at());
  if (!r[20].is_null()) SetTimestamp(r[20], run->mutable_profiles_removed_at());
  run->set_bisection_id(r[21].as<int64_t>());
}

std::string RequestDigest(const v1::RunSpec& spec) {
  v1::RunSpec what = spec;
  what.clear_request_id();
  return common::ProtoDigest(what);
}

absl::StatusOr<int64_t> InsertRun(pqxx::work& tx, const v1::RunSpec& spec) {
  const int64_t run_id =
      tx.exec_params1(
            "INSERT INTO runs (project, branch, commit_sha, kind, suite_name, state, "
            "baseline_branch, baseline_runs, against_run_id, aa, confirms_run_id, submitted_by, "
            "request_id, request_digest, bisection_id) "
            "VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6, $7, nullif($8, 0), $9, nullif($10, 0), "
            "$11, nullif($12, ''), nullif($13, ''), nullif($14, 0)) RETURNING id",
            spec.project(), spec.branch(), spec.commit(), RunKindName(spec.kind()),
            spec.suite_name(),
            spec.baseline_branch().empty() ? spec.branch() : spec.baseline_branch(),
            std::max(1, spec.baseline_runs()), spec.against_run_id(), spec.aa(),
            spec.confirms_run_id(), spec.submitted_by(), spec.request_id(),
            spec.request_id().empty() ? std::string() : RequestDigest(spec), spec.bisection_id())[0]
          .as<int64_t>();
  RETURN_IF_ERROR(InsertJobs(tx, run_id, 0, spec.jobs(), 0));
  NotifyWork(tx);
  NotifyRun(tx, run_id);
  return run_id;
}

absl::Status InsertJobs(pqxx::work& tx, int64_t run_id, int first_idx,
                        const google::protobuf::RepeatedPtrField<v1::JobSpec>& jobs,
                        int64_t expanded_from) {
  for (int i = 0; i < jobs.size(); ++i) {
    const v1::JobSpec& job = jobs[i];
    std::string json;
    auto st = google::protobuf::util::MessageToJsonString(job, &json);
    if (!st.ok()) return absl::InternalError("cannot encode job spec: " + st.ToString());
    Exec(tx,
         "INSERT INTO jobs (run_id, idx, name, spec, selector, state, max_attempts, "
         "expanded_from) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'QUEUED', $6, nullif($7, 0))",
         run_id, first_idx + i, job.name(), json, LabelsToJson(job.agent_selector()),
         static_cast<int>(job.max_attempts()), expanded_from);
  }
  return absl::OkStatus();
}

void NotifyWork(pqxx::work& tx) { Notify(tx, ControllerEvent::Work()); }

void AsyncCommit(pqxx::work& tx) { tx.exec("SET LOCAL synchronous_commit = off"); }

void RefreshRunState(pqxx::work& tx, int64_t run_id) {
  auto run = Exec(tx, "SELECT state, cancel_requested FROM runs WHERE id = $1 FOR UPDATE", run_id);
  if (run.empty()) return;
  auto c = Exec(
      tx,
      "SELECT count(*), count(*) FILTER (WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')), "
      "count(*) FILTER (WHERE state = 'FAILED'), count(*) FILTER (WHERE state = 'CANCELLED'), "
      "count(*) FILTER (WHERE state <> 'QUEUED') FROM jobs WHERE run_id = $1",
      run_id)[0];
  JobCounts counts{c[0].as<int64_t>(), c[1].as<int64_t>(), c[2].as<int64_t>(), c[3].as<int64_t>(),
                   c[4].as<int64_t>()};
  RunState next = DeriveRunState(counts, run[0][1].as<bool>());
  std::string name = RunStateName(next);
  if (name == run[0][0].as<std::string>()) return;
  Exec(tx,
       "UPDATE runs SET state = $2, finished_at = CASE WHEN $3 THEN coalesce(finished_at, now()) "
       "END "
       "WHERE id = $1",
       run_id, name, IsTerminal(next));
  // Its points for `perfgate history`, summarised once now that its results are final.
  if (next == v1::RUN_STATE_SUCCEEDED) Exec(tx, "SELECT summarise_run($1)", run_id);
  NotifyRun(tx, run_id);
}

absl::StatusOr<int64_t> EndAttempt(pqxx::work& tx, const RetryPolicy& retry, int64_t attempt_id,
                                   v1::AttemptOutcome outcome, int exit_code,
                                   const std::string& message, int64_t log_chunks,
                                   const std::string& attempt_state,
                                   std::optional<int64_t> expect_epoch, bool defer_run_check,
                                   bool* job_ended) {
  if (job_ended) *job_ended = false;
  auto r = Exec(
      tx,
      "SELECT a.epoch, a.state, j.id, j.state, j.attempts_made, j.max_attempts, j.current_epoch, "
      "j.run_id, "
      "a.outcome FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = $1 FOR UPDATE OF a, j",
      attempt_id);
  if (r.empty()) return AttemptNotFound(attempt_id);
  const auto& row = r[0];
  int64_t epoch = row[0].as<int64_t>();
  if (expect_epoch && *expect_epoch != epoch) {
    return StaleEpoch(attempt_id, *expect_epoch);
  }
  std::string prior = row[1].as<std::string>();
  if (prior != "ASSIGNED" && prior != "RUNNING" && prior != "LOST") {
    if (row[8].as<std::string>() == OutcomeName(outcome)) return row[7].as<int64_t>();  // a replay
    return absl::FailedPreconditionError(
        absl::StrCat("attempt ", attempt_id, " already ended as ", prior));
  }
  int64_t job_id = row[2].as<int64_t>();
  JobState job_state = ParseJobState(row[3].as<std::string>());
  int64_t run_id = row[7].as<int64_t>();
  Exec(tx,
       "UPDATE attempts SET state = $2, outcome = $3, exit_code = $4, message = $5, log_chunks = "
       "$6, "
       "finished_at = now(), lost_at = NULL WHERE id = $1",
       attempt_id, attempt_state.empty() ? OutcomeName(outcome) : attempt_state,
       OutcomeName(outcome), exit_code, message, log_chunks);
  if (row[6].as<int64_t>() == epoch && !IsTerminal(job_state)) {
    JobTransition t = OnAttemptEnded(retry, job_state, outcome, row[4].as<int>(), row[5].as<int>());
    std::string msg = JobMessage(t, message);
    Exec(tx,
         "UPDATE jobs SET state = $2, message = $3, updated_at = now(), "
         "not_before = now() + $4::interval, enqueued_at = now() WHERE id = $1",
         job_id, JobStateName(t.next), msg, Interval(t.retry_after));
    // RETRY_WAIT leaves the run RUNNING; only a job's end can change the run's state.
    if (IsTerminal(t.next)) {
      if (job_ended) *job_ended = true;
      if (!defer_run_check) RefreshRunState(tx, run_id);
    }
  }
  return run_id;
}

absl::Status FinishRunIfDone(PgPool& pool, int64_t run_id) {
  int64_t open = 0;
  absl::Status s = pool.WithConnection([&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction nt(c);  // one read, no transaction around it
    open = Exec(nt,
                "SELECT count(*) FROM jobs WHERE run_id = $1 "
                "AND state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')",
                run_id)[0][0]
               .as<int64_t>();
    return absl::OkStatus();
  });
  if (!s.ok() || open > 0) return s;
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    RefreshRunState(tx, run_id);
    return absl::OkStatus();
  });
}

}  // namespace perfgate::controller::pgq
