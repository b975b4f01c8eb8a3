#include "controller/store/pg_job_store.h"

#include <google/protobuf/util/json_util.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

using pgq::Interval;

absl::Status LoadJobs(pqxx::work& tx, v1::Run* run) {
  std::map<int64_t, v1::Job*> by_id;
  for (const auto& r :
       Exec(tx,
            "SELECT id, name, state, spec::text, attempts_made, message, "
            "extract(epoch from updated_at)::float8, coalesce(expanded_from, 0), commits::text "
            "FROM jobs WHERE run_id = $1 ORDER BY idx",
            run->id())) {
    v1::Job* job = run->add_jobs();
    job->set_id(r[0].as<int64_t>());
    job->set_run_id(run->id());
    job->set_name(r[1].as<std::string>());
    job->set_state(ParseJobState(r[2].as<std::string>()));
    auto st =
        google::protobuf::util::JsonStringToMessage(r[3].as<std::string>(), job->mutable_spec());
    if (!st.ok()) return absl::InternalError("stored job spec unreadable: " + st.ToString());
    job->set_attempts_made(r[4].as<int>());
    job->set_message(r[5].as<std::string>());
    SetTimestamp(r[6], job->mutable_updated_at());
    job->set_expanded_from_job_id(r[7].as<int64_t>());
    if (!r[8].is_null()) {
      auto cs = google::protobuf::util::JsonStringToMessage(r[8].as<std::string>(),
                                                            job->mutable_commits());
      if (!cs.ok()) return absl::InternalError("stored commit list unreadable: " + cs.ToString());
    }
    by_id[job->id()] = job;
  }
  for (const auto& r :
       Exec(tx,
            "SELECT a.job_id, a.id, a.epoch, a.agent_name, a.state, a.outcome, a.exit_code, "
            "a.message, "
            "extract(epoch from a.created_at)::float8, extract(epoch from a.finished_at)::float8 "
            "FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.run_id = $1 ORDER BY a.id",
            run->id())) {
    auto it = by_id.find(r[0].as<int64_t>());
    if (it == by_id.end()) continue;
    v1::Attempt* a = it->second->add_attempts();
    a->set_id(r[1].as<int64_t>());
    a->set_epoch(r[2].as<int64_t>());
    a->set_agent(r[3].as<std::string>());
    a->set_state(r[4].as<std::string>());
    a->set_outcome(ParseOutcome(r[5].as<std::string>()));
    a->set_exit_code(r[6].as<int>());
    a->set_message(r[7].as<std::string>());
    SetTimestamp(r[8], a->mutable_created_at());
    SetTimestamp(r[9], a->mutable_finished_at());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Run> pgq::LoadRun(pqxx::work& tx, int64_t id) {
  auto r = Exec(tx, absl::StrCat("SELECT ", pgq::kRunColumns, " FROM runs WHERE id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  v1::Run run;
  pgq::RunFromRow(r[0], &run);
  if (auto s = LoadJobs(tx, &run); !s.ok()) return s;
  return run;
}

absl::Status pgq::FillAaCommit(pqxx::work& tx, v1::RunSpec* spec) {
  if (!spec->aa() || !spec->commit().empty()) return absl::OkStatus();
  // An A/A measures the baseline's code: the newest succeeded baseline run's commit.
  const std::string branch =
      spec->baseline_branch().empty() ? spec->branch() : spec->baseline_branch();
  auto b = Exec(tx,
                "SELECT commit_sha FROM runs WHERE kind = 'BASELINE' AND state = 'SUCCEEDED' "
                "AND project = $1 AND branch = $2 AND suite_name = $3 ORDER BY id DESC LIMIT 1",
                spec->project(), branch, spec->suite_name());
  if (b.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("aa: no succeeded baseline run of suite ", spec->suite_name(), " on branch ",
                     branch, " to take the commit from; give the commit to measure (--commit)"));
  }
  spec->set_commit(b[0][0].as<std::string>());
  return absl::OkStatus();
}

absl::Status pgq::CancelRunTx(pqxx::work& tx, int64_t id, const std::string& why,
                              std::vector<StopOrder>* stops) {
  auto run = Exec(tx, "UPDATE runs SET cancel_requested = true WHERE id = $1 RETURNING id", id);
  if (run.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  for (const auto& r : Exec(tx, "SELECT id, state FROM jobs WHERE run_id = $1 FOR UPDATE", id)) {
    JobState cur = ParseJobState(r[1].as<std::string>());
    JobState next = OnCancelRequested(cur);
    if (next == cur) continue;
    Exec(tx, "UPDATE jobs SET state = $2, message = $3, updated_at = now() WHERE id = $1",
         r[0].as<int64_t>(), JobStateName(next), why);
  }
  for (const auto& r :
       Exec(tx,
            "SELECT a.agent_name, a.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
            "WHERE j.run_id = $1 AND a.state IN ('ASSIGNED', 'RUNNING', 'LOST') AND a.epoch = "
            "j.current_epoch",
            id)) {
    if (stops) stops->push_back({r[0].as<std::string>(), r[1].as<int64_t>()});
    pgq::Notify(tx, ControllerEvent::StopAttempt(r[1].as<int64_t>(), r[0].as<std::string>()));
  }
  pgq::RefreshRunState(tx, id);
  pgq::NotifyRun(tx, id);
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> PgJobStore::SubmitRun(const v1::RunSpec& spec, bool* duplicate) {
  v1::Run out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    if (duplicate) *duplicate = false;
    if (!spec.request_id().empty()) {
      // Concurrent retries of one request wait here for each other; the first inserts.
      Exec(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 17))",
           spec.submitted_by() + "\n" + spec.request_id());
      auto prior = Exec(tx,
                        "SELECT id, request_digest FROM runs WHERE submitted_by = $1 AND "
                        "request_id = $2",
                        spec.submitted_by(), spec.request_id());
      if (!prior.empty()) {
        const int64_t id = prior[0][0].as<int64_t>();
        if (prior[0][1].as<std::string>() != pgq::RequestDigest(spec))
          return absl::AlreadyExistsError(
              absl::StrCat("request_id: '", spec.request_id(), "' was used for run ", id,
                           ", which had another spec; use a new request_id"));
        ASSIGN_OR_RETURN(out, pgq::LoadRun(tx, id));
        if (duplicate) *duplicate = true;
        return absl::OkStatus();
      }
    }
    if (spec.against_run_id() != 0 &&
        Exec(tx, "SELECT 1 FROM runs WHERE id = $1", spec.against_run_id()).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("against_run_id: run ", spec.against_run_id(), " not found"));
    }
    v1::RunSpec filled = spec;
    if (auto st = pgq::FillAaCommit(tx, &filled); !st.ok()) return st;
    auto run_id = pgq::InsertRun(tx, filled);
    if (!run_id.ok()) return run_id.status();
    auto run = pgq::LoadRun(tx, *run_id);
    if (!run.ok()) return run.status();
    out = *std::move(run);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Run> PgJobStore::GetRun(int64_t id) {
  v1::Run out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto run = pgq::LoadRun(tx, id);
    if (!run.ok()) return run.status();
    out = *std::move(run);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ListRunsResponse> PgJobStore::ListRuns(const v1::ListRunsRequest& req) {
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!req.page_token().empty() && (!absl::SimpleAtoi(req.page_token(), &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token: not a token this server issued");
  }
  int page = req.page_size() <= 0 ? 50 : std::min(req.page_size(), 500);
  v1::ListRunsResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto rows = Exec(
        tx,
        absl::StrCat(
            "SELECT ", pgq::kRunColumns,
            " FROM runs WHERE id < $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR branch = $3) "
            "AND ($4 = '' OR commit_sha = $4) AND ($5 = '' OR kind = $5) AND ($6 = '' OR project = "
            "$6) "
            "ORDER BY id DESC LIMIT $7"),
        before, req.state() ? RunStateName(req.state()) : "", req.branch(), req.commit(),
        req.kind() ? RunKindName(req.kind()) : "", req.project(), page + 1);
    for (int i = 0; i < static_cast<int>(rows.size()) && i < page; ++i)
      pgq::RunFromRow(rows[i], out.add_runs());
    if (static_cast<int>(rows.size()) > page)
      out.set_next_page_token(std::to_string(out.runs(page - 1).id()));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<StopOrder>> PgJobStore::CancelRun(int64_t id, const std::string& actor) {
  std::vector<StopOrder> stops;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    stops.clear();
    RETURN_IF_ERROR(pgq::CancelRunTx(tx, id, "cancel requested", &stops));
    // The first to cancel is recorded (a second cancel of an ended run changes nothing).
    Exec(tx,
         "UPDATE runs SET cancelled_by = $2 WHERE id = $1 AND cancelled_by = '' AND "
         "state NOT IN ('SUCCEEDED', 'FAILED')",
         id, actor);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stops;
}

absl::StatusOr<int64_t> PgJobStore::AppendLogs(const v1::UploadLogRequest& req) {
  int64_t run_id = 0;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  "SELECT a.epoch, j.run_id, j.id, j.current_epoch, a.state FROM attempts a JOIN "
                  "jobs j ON j.id = a.job_id WHERE a.id = $1",
                  req.attempt_id());
    if (r.empty()) return pgq::AttemptNotFound(req.attempt_id());
    RETURN_IF_ERROR(pgq::CheckCurrentAttempt(req.attempt_id(), req.epoch(), r[0][0].as<int64_t>(),
                                             r[0][3].as<int64_t>()));
    // An attempt the controller gave up on (its agent unreachable for longer than lost_after,
    // the job run again) takes no new output; a replay of what it stored is still answered OK.
    if (r[0][4].as<std::string>() == "EXPIRED") {
      std::vector<int64_t> seqs;
      for (const auto& c : req.chunks()) seqs.push_back(c.seq());
      const auto stored = Exec(tx,
                               "SELECT count(*) FROM log_chunks WHERE attempt_id = $1 AND seq = "
                               "ANY($2::bigint[])",
                               req.attempt_id(), BigintArray(seqs));
      if (stored[0][0].as<int64_t>() != static_cast<int64_t>(seqs.size()))
        return absl::FailedPreconditionError(absl::StrCat(
            "attempt ", req.attempt_id(),
            " expired (its agent was unreachable for longer than lost_after): its further output "
            "is refused"));
    }
    run_id = r[0][1].as<int64_t>();
    int64_t job_id = r[0][2].as<int64_t>();
    for (const auto& c : req.chunks()) {
      Exec(tx,
           "INSERT INTO log_chunks (run_id, job_id, attempt_id, seq, stream, data) VALUES ($1, $2, "
           "$3, $4, $5, $6) "
           "ON CONFLICT (attempt_id, seq) DO NOTHING",
           run_id, job_id, req.attempt_id(), c.seq(), static_cast<int>(c.stream()),
           pqxx::binarystring(c.data().data(), c.data().size()));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return run_id;
}

namespace {

absl::Status CheckRunExists(pqxx::work& tx, int64_t run_id) {
  if (Exec(tx, "SELECT 1 FROM runs WHERE id = $1", run_id).empty()) {
    return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  }
  return absl::OkStatus();
}

// Rows of (id, job_id, attempt_id, seq, stream, data) into `out`, in order.
void AddLogChunks(const pqxx::result& rows, v1::GetRunLogsResponse* out) {
  for (const auto& r : rows) {
    v1::LogChunk* c = out->add_chunks();
    c->set_id(r[0].as<int64_t>());
    c->set_job_id(r[1].as<int64_t>());
    c->set_attempt_id(r[2].as<int64_t>());
    c->set_seq(r[3].as<int64_t>());
    c->set_stream(static_cast<v1::LogStream>(r[4].as<int>()));
    c->set_data(pqxx::binarystring(r[5]).str());
    out->set_last_id(c->id());
  }
}

}  // namespace

absl::StatusOr<v1::GetRunLogsResponse> PgJobStore::GetRunLogs(int64_t run_id, int64_t after_id,
                                                              int limit) {
  v1::GetRunLogsResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    out.set_last_id(after_id);
    if (auto st = CheckRunExists(tx, run_id); !st.ok()) return st;
    AddLogChunks(Exec(tx,
                      "SELECT id, job_id, attempt_id, seq, stream, data FROM log_chunks "
                      "WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                      run_id, after_id, limit),
                 &out);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::GetRunLogsResponse> PgJobStore::GetRunLogTail(int64_t run_id, int limit) {
  v1::GetRunLogsResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    if (auto st = CheckRunExists(tx, run_id); !st.ok()) return st;
    AddLogChunks(Exec(tx,
                      "SELECT * FROM (SELECT id, job_id, attempt_id, seq, stream, data FROM "
                      "log_chunks WHERE run_id = $1 ORDER BY id DESC LIMIT $2) t ORDER BY id",
                      run_id, limit),
                 &out);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> PgJobStore::CountJobsByState() {
  std::map<std::string, int64_t> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    // Finished jobs are counted too, but only ever grow; dashboards look at the live states.
    for (const auto& r : tx.exec("SELECT state, count(*) FROM jobs GROUP BY state")) {
      out[r[0].as<std::string>()] = r[1].as<int64_t>();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfgate::controller
