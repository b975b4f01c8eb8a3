#include "controller/store/pg_job_store.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

using pgq::Interval;

// Advisory lock key for the sweeper (a singleton duty among replicas).
constexpr int64_t kSweepLockKey = 0x7065726673776570;

constexpr char kRunColumns[] =
    "id, state, project, branch, commit_sha, kind, suite_name, extract(epoch from created_at)::float8, "
    "extract(epoch from finished_at)::float8";

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
}

absl::Status LoadJobs(pqxx::work& tx, v1::Run* run) {
  std::map<int64_t, v1::Job*> by_id;
  for (const auto& r : tx.exec_params(
           "SELECT id, name, state, spec::text, attempts_made, message, extract(epoch from updated_at)::float8 "
           "FROM jobs WHERE run_id = $1 ORDER BY idx",
           run->id())) {
    v1::Job* job = run->add_jobs();
    job->set_id(r[0].as<int64_t>());
    job->set_run_id(run->id());
    job->set_name(r[1].as<std::string>());
    job->set_state(ParseJobState(r[2].as<std::string>()));
    auto st = google::protobuf::util::JsonStringToMessage(r[3].as<std::string>(), job->mutable_spec());
    if (!st.ok()) return absl::InternalError("stored job spec unreadable: " + st.ToString());
    job->set_attempts_made(r[4].as<int>());
    job->set_message(r[5].as<std::string>());
    SetTimestamp(r[6], job->mutable_updated_at());
    by_id[job->id()] = job;
  }
  for (const auto& r : tx.exec_params(
           "SELECT a.job_id, a.id, a.epoch, a.agent_name, a.state, a.outcome, a.exit_code, a.message, "
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

absl::StatusOr<v1::Run> LoadRun(pqxx::work& tx, int64_t id) {
  auto r = tx.exec_params(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  v1::Run run;
  RunFromRow(r[0], &run);
  if (auto s = LoadJobs(tx, &run); !s.ok()) return s;
  return run;
}

}  // namespace

absl::StatusOr<v1::Run> PgJobStore::SubmitRun(const v1::RunSpec& spec) {
  v1::Run out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    int64_t run_id = tx.exec_params1(
                           "INSERT INTO runs (project, branch, commit_sha, kind, suite_name, state) "
                           "VALUES ($1, $2, $3, $4, $5, 'QUEUED') RETURNING id",
                           spec.project(), spec.branch(), spec.commit(), RunKindName(spec.kind()), spec.suite_name())[0]
                         .as<int64_t>();
    for (int i = 0; i < spec.jobs_size(); ++i) {
      const v1::JobSpec& job = spec.jobs(i);
      std::string json;
      auto st = google::protobuf::util::MessageToJsonString(job, &json);
      if (!st.ok()) return absl::InternalError("cannot encode job spec: " + st.ToString());
      tx.exec_params(
          "INSERT INTO jobs (run_id, idx, name, spec, selector, state, max_attempts) "
          "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'QUEUED', $6)",
          run_id, i, job.name(), json, LabelsToJson(job.agent_selector()), static_cast<int>(job.max_attempts()));
    }
    pgq::NotifyWork(tx);
    pgq::NotifyRun(tx, run_id);
    auto run = LoadRun(tx, run_id);
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
    auto run = LoadRun(tx, id);
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
    auto rows = tx.exec_params(
        absl::StrCat("SELECT ", kRunColumns,
                     " FROM runs WHERE id < $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR branch = $3) "
                     "AND ($4 = '' OR commit_sha = $4) AND ($5 = '' OR kind = $5) AND ($6 = '' OR project = $6) "
                     "ORDER BY id DESC LIMIT $7"),
        before, req.state() ? RunStateName(req.state()) : "", req.branch(), req.commit(),
        req.kind() ? RunKindName(req.kind()) : "", req.project(), page + 1);
    for (int i = 0; i < static_cast<int>(rows.size()) && i < page; ++i) RunFromRow(rows[i], out.add_runs());
    if (static_cast<int>(rows.size()) > page) out.set_next_page_token(std::to_string(out.runs(page - 1).id()));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<StopOrder>> PgJobStore::CancelRun(int64_t id) {
  std::vector<StopOrder> stops;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    stops.clear();
    auto run = tx.exec_params("UPDATE runs SET cancel_requested = true WHERE id = $1 RETURNING id", id);
    if (run.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
    for (const auto& r : tx.exec_params("SELECT id, state FROM jobs WHERE run_id = $1 FOR UPDATE", id)) {
      JobState cur = ParseJobState(r[1].as<std::string>());
      JobState next = OnCancelRequested(cur);
      if (next == cur) continue;
      tx.exec_params("UPDATE jobs SET state = $2, message = 'cancel requested', updated_at = now() WHERE id = $1",
                     r[0].as<int64_t>(), JobStateName(next));
    }
    for (const auto& r : tx.exec_params(
             "SELECT a.agent_name, a.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
             "WHERE j.run_id = $1 AND a.state IN ('ASSIGNED', 'RUNNING', 'LOST') AND a.epoch = j.current_epoch",
             id)) {
      stops.push_back({r[0].as<std::string>(), r[1].as<int64_t>()});
      tx.exec_params("SELECT pg_notify($1, $2)", kEventsChannel,
                     absl::StrCat("stop:", r[1].as<int64_t>(), ":", r[0].as<std::string>()));
    }
    pgq::RefreshRunState(tx, id);
    pgq::NotifyRun(tx, id);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stops;
}

absl::StatusOr<std::optional<v1::Assign>> PgJobStore::ClaimJob(const std::string& agent, absl::Duration* waited) {
  std::optional<v1::Assign> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.reset();
    // Busy or draining agents claim nothing. The unique index is the guarantee; this check
    // keeps the common case free of constraint violations.
    auto idle = tx.exec_params(
        "SELECT labels::text FROM agents WHERE name = $1 AND NOT draining AND NOT EXISTS ("
        "SELECT 1 FROM attempts WHERE agent_name = $1 AND state IN ('ASSIGNED', 'RUNNING', 'LOST'))",
        agent);
    if (idle.empty()) return absl::OkStatus();
    auto job = tx.exec_params(
        "SELECT j.id, j.run_id, j.spec::text, r.commit_sha, "
        "extract(epoch from now() - greatest(j.enqueued_at, j.not_before))::float8 "
        "FROM jobs j JOIN runs r ON r.id = j.run_id "
        "WHERE j.state IN ('QUEUED', 'RETRY_WAIT') AND j.not_before <= now() AND j.selector <@ $1::jsonb "
        "ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
        idle[0][0].as<std::string>());
    if (job.empty()) return absl::OkStatus();
    int64_t job_id = job[0][0].as<int64_t>();
    int64_t run_id = job[0][1].as<int64_t>();
    auto att = tx.exec_params(
        "INSERT INTO attempts (job_id, agent_name, state, lease_expires_at) "
        "VALUES ($1, $2, 'ASSIGNED', now() + $3::interval) RETURNING id, epoch",
        job_id, agent, Interval(timings_.assigned_lease));
    v1::Assign a;
    a.set_attempt_id(att[0][0].as<int64_t>());
    a.set_epoch(att[0][1].as<int64_t>());
    a.set_job_id(job_id);
    a.set_run_id(run_id);
    a.set_commit(job[0][3].as<std::string>());
    auto st = google::protobuf::util::JsonStringToMessage(job[0][2].as<std::string>(), a.mutable_spec());
    if (!st.ok()) return absl::InternalError("stored job spec unreadable: " + st.ToString());
    tx.exec_params(
        "UPDATE jobs SET state = 'ASSIGNED', attempts_made = attempts_made + 1, current_epoch = $2, "
        "message = '', updated_at = now() WHERE id = $1",
        job_id, a.epoch());
    pgq::RefreshRunState(tx, run_id);
    pgq::NotifyRun(tx, run_id);
    if (waited) *waited = absl::Seconds(job[0][4].as<double>());
    out = std::move(a);
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(s)) return std::optional<v1::Assign>();  // lost a race for the agent
  if (!s.ok()) return s;
  return out;
}

absl::Status PgJobStore::AcceptAttempt(const v1::AcceptAttemptRequest& req) {
  absl::Status result;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    result = absl::OkStatus();
    auto r = tx.exec_params(
        "SELECT a.epoch, a.agent_name, a.state, j.state, j.id, j.run_id FROM attempts a "
        "JOIN jobs j ON j.id = a.job_id WHERE a.id = $1 FOR UPDATE OF a, j",
        req.attempt_id());
    if (r.empty()) return absl::NotFoundError(absl::StrCat("attempt ", req.attempt_id(), " not found"));
    if (r[0][0].as<int64_t>() != req.epoch()) {
      return absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(), ": stale epoch ", req.epoch()));
    }
    if (r[0][1].as<std::string>() != req.agent()) {
      return absl::PermissionDeniedError(absl::StrCat("attempt ", req.attempt_id(), " belongs to another agent"));
    }
    std::string astate = r[0][2].as<std::string>();
    JobState jstate = ParseJobState(r[0][3].as<std::string>());
    if (astate == "RUNNING") return absl::OkStatus();  // a replay
    if (astate != "ASSIGNED" && astate != "LOST") {
      return absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(), " already ended (", astate, ")"));
    }
    if (jstate == v1::JOB_STATE_CANCELLING || jstate == v1::JOB_STATE_CANCELLED) {
      auto ended = pgq::EndAttempt(tx, retry_, req.attempt_id(), v1::ATTEMPT_OUTCOME_CANCELLED, 0,
                                   "cancelled before it started", 0);
      if (!ended.ok()) return ended.status();
      result = absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(), ": job was cancelled"));
      return absl::OkStatus();  // commit the cancellation, report the refusal
    }
    tx.exec_params(
        "UPDATE attempts SET state = 'RUNNING', accepted_at = now(), lost_at = NULL, "
        "lease_expires_at = now() + $2::interval WHERE id = $1",
        req.attempt_id(), Interval(timings_.assigned_lease));
    tx.exec_params("UPDATE jobs SET state = 'RUNNING', updated_at = now() WHERE id = $1", r[0][4].as<int64_t>());
    pgq::RefreshRunState(tx, r[0][5].as<int64_t>());
    pgq::NotifyRun(tx, r[0][5].as<int64_t>());
    return absl::OkStatus();
  });
  return s.ok() ? result : s;
}

absl::StatusOr<int64_t> PgJobStore::CompleteAttempt(const v1::CompleteAttemptRequest& req) {
  int64_t run_id = 0;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("SELECT epoch, state, outcome FROM attempts WHERE id = $1 FOR UPDATE", req.attempt_id());
    if (r.empty()) return absl::NotFoundError(absl::StrCat("attempt ", req.attempt_id(), " not found"));
    if (r[0][0].as<int64_t>() != req.epoch()) {
      return absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(), ": stale epoch ", req.epoch()));
    }
    std::string state = r[0][1].as<std::string>();
    if (state != "ASSIGNED" && state != "RUNNING" && state != "LOST") {
      if (r[0][2].as<std::string>() == OutcomeName(req.outcome())) {
        run_id = tx.exec_params1("SELECT j.run_id FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = $1",
                                 req.attempt_id())[0]
                     .as<int64_t>();
        return absl::OkStatus();  // a replay of the same completion
      }
      return absl::FailedPreconditionError(
          absl::StrCat("attempt ", req.attempt_id(), " already ended as ", state));
    }
    auto ended = pgq::EndAttempt(tx, retry_, req.attempt_id(), req.outcome(), req.exit_code(), req.message(),
                                 req.log_chunks());
    if (!ended.ok()) return ended.status();
    run_id = *ended;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return run_id;
}

absl::StatusOr<int64_t> PgJobStore::AppendLogs(const v1::UploadLogRequest& req) {
  int64_t run_id = 0;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params(
        "SELECT a.epoch, j.run_id, j.id FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = $1",
        req.attempt_id());
    if (r.empty()) return absl::NotFoundError(absl::StrCat("attempt ", req.attempt_id(), " not found"));
    if (r[0][0].as<int64_t>() != req.epoch()) {
      return absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(), ": stale epoch ", req.epoch()));
    }
    run_id = r[0][1].as<int64_t>();
    int64_t job_id = r[0][2].as<int64_t>();
    for (const auto& c : req.chunks()) {
      tx.exec_params(
          "INSERT INTO log_chunks (run_id, job_id, attempt_id, seq, stream, data) VALUES ($1, $2, $3, $4, $5, $6) "
          "ON CONFLICT (attempt_id, seq) DO NOTHING",
          run_id, job_id, req.attempt_id(), c.seq(), static_cast<int>(c.stream()),
          pqxx::binarystring(c.data().data(), c.data().size()));
    }
    pgq::NotifyRun(tx, run_id);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return run_id;
}

absl::StatusOr<v1::GetRunLogsResponse> PgJobStore::GetRunLogs(int64_t run_id, int64_t after_id, int limit) {
  v1::GetRunLogsResponse out;
  out.set_last_id(after_id);
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    if (tx.exec_params("SELECT 1 FROM runs WHERE id = $1", run_id).empty()) {
      return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
    }
    for (const auto& r : tx.exec_params(
             "SELECT id, job_id, attempt_id, seq, stream, data FROM log_chunks WHERE run_id = $1 AND id > $2 "
             "ORDER BY id LIMIT $3",
             run_id, after_id, limit)) {
      v1::LogChunk* c = out.add_chunks();
      c->set_id(r[0].as<int64_t>());
      c->set_job_id(r[1].as<int64_t>());
      c->set_attempt_id(r[2].as<int64_t>());
      c->set_seq(r[3].as<int64_t>());
      c->set_stream(static_cast<v1::LogStream>(r[4].as<int>()));
      c->set_data(pqxx::binarystring(r[5]).str());
      out.set_last_id(c->id());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<SweepResult> PgJobStore::Sweep(absl::Duration lost_after) {
  SweepResult res;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    res = SweepResult{};
    if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kSweepLockKey)[0].as<bool>()) {
      return absl::OkStatus();  // another replica sweeps
    }
    // Live attempts whose lease ran out: LOST, agent kept reserved.
    for (const auto& r : tx.exec(
             "UPDATE attempts a SET state = 'LOST', lost_at = now() FROM jobs j "
             "WHERE j.id = a.job_id AND a.state IN ('ASSIGNED', 'RUNNING') AND a.lease_expires_at < now() "
             "RETURNING a.id, j.id, j.state, j.run_id, a.epoch = j.current_epoch")) {
      ++res.leases_expired;
      JobState js = ParseJobState(r[2].as<std::string>());
      if (r[4].as<bool>() && !IsTerminal(js)) {
        // A job being cancelled has nothing left to reach: it is cancelled.
        std::string next = js == v1::JOB_STATE_CANCELLING ? "CANCELLED" : "LOST";
        tx.exec_params("UPDATE jobs SET state = $2, message = 'agent stopped answering', updated_at = now() "
                       "WHERE id = $1",
                       r[1].as<int64_t>(), next);
      }
      pgq::RefreshRunState(tx, r[3].as<int64_t>());
    }
    // LOST attempts whose agent never came back: give up, release the node, retry the job.
    for (const auto& r : tx.exec_params(
             "SELECT id FROM attempts WHERE state = 'LOST' AND lost_at < now() - $1::interval FOR UPDATE",
             Interval(lost_after))) {
      ++res.lost_expired;
      auto ended = pgq::EndAttempt(tx, retry_, r[0].as<int64_t>(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0,
                                   "agent lost for longer than lost_after", 0, "EXPIRED");
      if (!ended.ok()) return ended.status();
    }
    res.agents_offline = tx.exec_params(
                               "UPDATE agents SET connected = false WHERE connected AND last_seen < now() - $1::interval",
                               Interval(timings_.agent_offline_after))
                             .affected_rows();
    // Retry backoffs that have run out make work claimable.
    if (!tx.exec("SELECT 1 FROM jobs WHERE state = 'RETRY_WAIT' AND not_before <= now() LIMIT 1").empty()) {
      pgq::NotifyWork(tx);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return res;
}

absl::Status PgJobStore::ExtendLiveLeases(absl::Duration grace) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_params(
        "UPDATE attempts SET lease_expires_at = greatest(lease_expires_at, now() + $1::interval) "
        "WHERE state IN ('ASSIGNED', 'RUNNING')",
        Interval(grace));
    tx.exec_params("UPDATE attempts SET lost_at = greatest(lost_at, now()) WHERE state = 'LOST'");
    return absl::OkStatus();
  });
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
