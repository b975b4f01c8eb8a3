// PgJobStore: claims and the attempt lifecycle (claim -> accept -> complete).
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "controller/queue/agent_matcher.h"
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {

using pgq::Interval;

std::optional<std::string> PgJobStore::CachedCommit(int64_t run_id) {
  absl::MutexLock lock(&cache_mu_);
  auto it = commit_cache_.find(run_id);
  if (it == commit_cache_.end()) return std::nullopt;
  return it->second;
}

void PgJobStore::RememberCommits(const std::map<int64_t, std::string>& commits) {
  absl::MutexLock lock(&cache_mu_);
  if (commit_cache_.size() > 10'000) commit_cache_.clear();  // bounded; a miss is one query
  commit_cache_.insert(commits.begin(), commits.end());
}

namespace {

// The idle ones among `agents` (not draining, no live attempt), longest idle first. The unique
// index on live attempts is the guarantee; this keeps violations rare.
IdleAgents LoadIdleAgents(pqxx::work& tx, const std::vector<std::string>& agents) {
  IdleAgents idle;
  for (const auto& r :
       Exec(tx,
            // set_config: commit without waiting for the disk (see the contract).
            "SELECT g.name, g.labels::text, set_config('synchronous_commit', 'off', true) "
            "FROM agents g WHERE g.name = ANY($1::text[]) AND NOT g.draining "
            "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.agent_name = g.name "
            "AND a.state IN ('ASSIGNED', 'RUNNING', 'LOST')) ORDER BY g.last_seen",
            TextArray(agents))) {
    Labels labels;
    LabelsFromJson(r[1].as<std::string>(), &labels);
    idle.Add(r[0].as<std::string>(), std::move(labels));
  }
  return idle;
}

}  // namespace

std::string PgJobStore::RunCommit(pqxx::work& tx, int64_t run_id, ClaimState* st) {
  if (auto it = st->commits.find(run_id); it != st->commits.end()) return it->second;
  if (std::optional<std::string> cached = CachedCommit(run_id)) {
    return st->commits[run_id] = *cached;  // seen started by a committed claim already
  }
  auto r = Exec(tx, "SELECT commit_sha, state FROM runs WHERE id = $1", run_id);
  st->fresh_commits[run_id] = r[0][0].as<std::string>();
  if (r[0][1].as<std::string>() == "QUEUED") st->started_runs.insert(run_id);
  return st->commits[run_id] = r[0][0].as<std::string>();
}

absl::StatusOr<JobStore::Claim> PgJobStore::AssignJob(pqxx::work& tx, const pqxx::row& job,
                                                      const std::string& agent, ClaimState* st) {
  const int64_t job_id = job[0].as<int64_t>();
  const int64_t run_id = job[1].as<int64_t>();
  auto att = Exec(tx,
                  "INSERT INTO attempts (job_id, agent_name, state, lease_expires_at) "
                  "VALUES ($1, $2, 'ASSIGNED', now() + $3::interval) RETURNING id, epoch",
                  job_id, agent, Interval(timings_.assigned_lease));
  Claim c;
  c.agent = agent;
  c.assign.set_attempt_id(att[0][0].as<int64_t>());
  c.assign.set_epoch(att[0][1].as<int64_t>());
  c.assign.set_job_id(job_id);
  c.assign.set_run_id(run_id);
  c.assign.set_commit(RunCommit(tx, run_id, st));
  auto parsed = google::protobuf::util::JsonStringToMessage(job[2].as<std::string>(),
                                                            c.assign.mutable_spec());
  if (!parsed.ok()) return absl::InternalError("stored job spec unreadable: " + parsed.ToString());
  if (!c.assign.spec().commit().empty()) c.assign.set_commit(c.assign.spec().commit());
  Exec(tx,
       "UPDATE jobs SET state = 'ASSIGNED', attempts_made = attempts_made + 1, current_epoch = $2, "
       "message = '', updated_at = now() WHERE id = $1",
       job_id, c.assign.epoch());
  c.waited = absl::Seconds(job[4].as<double>());
  return c;
}

absl::StatusOr<std::vector<JobStore::Claim>> PgJobStore::ClaimJobs(
    const std::vector<std::string>& agents) {
  std::vector<Claim> out;
  ClaimState st;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    st = ClaimState{};
    IdleAgents idle = LoadIdleAgents(tx, agents);
    // Walk claimable jobs oldest first, a page at a time, locking them against other replicas.
    // The query touches only the jobs table so that it always walks the partial index in id
    // order and stops early (joining runs or filtering selectors in SQL made the planner sort
    // every claimable job on each claim). Selectors are matched here (queue/agent_matcher);
    // older jobs waiting for agents that are not idle do not hide younger ones idle agents can
    // take. A page is as many jobs as there are idle agents; more pages only if selectors
    // leave some idle.
    const int page = static_cast<int>(idle.size());
    int64_t after = 0;
    for (int pages = 0; pages < 50 && idle.free() > 0; ++pages) {
      auto jobs =
          Exec(tx,
               "SELECT id, run_id, spec::text, selector::text, "
               "extract(epoch from now() - greatest(enqueued_at, not_before))::float8 FROM jobs "
               "WHERE state IN ('QUEUED', 'RETRY_WAIT') AND not_before <= now() AND id > $1 "
               "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
               after, page);
      for (const auto& job : jobs) {
        after = job[0].as<int64_t>();
        if (idle.free() == 0) break;
        Labels selector;
        LabelsFromJson(job[3].as<std::string>(), &selector);
        std::optional<std::string> agent = idle.Take(selector);
        if (!agent) continue;  // no idle agent can take it
        ASSIGN_OR_RETURN(Claim c, AssignJob(tx, job, *agent, &st));
        out.push_back(std::move(c));
      }
      if (static_cast<int>(jobs.size()) < page) break;  // no more claimable jobs
    }
    // A run's first claim starts it; later claims leave the run row alone (no lock).
    for (int64_t run_id : st.started_runs) {
      if (!Exec(tx,
                "UPDATE runs SET state = 'RUNNING' WHERE id = $1 AND state = 'QUEUED' RETURNING id",
                run_id)
               .empty()) {
        pgq::NotifyRun(tx, run_id);
      }
    }
    return absl::OkStatus();
  });
  if (s.ok()) RememberCommits(st.fresh_commits);  // only what committed
  if (absl::IsAlreadyExists(s) && agents.size() > 1) {
    // Lost a race for one agent: claim one by one, so the others still get work.
    std::vector<Claim> each;
    for (const auto& a : agents) {
      auto one = ClaimJobs({a});
      if (one.ok()) each.insert(each.end(), one->begin(), one->end());
    }
    return each;
  }
  if (absl::IsAlreadyExists(s)) return std::vector<Claim>();
  if (!s.ok()) return s;
  return out;
}

absl::Status PgJobStore::AcceptAttempt(const v1::AcceptAttemptRequest& req) {
  // The common case in one statement: an ASSIGNED attempt of this agent and epoch whose job is
  // still ASSIGNED. The outer WHERE is rechecked after any row-lock wait, so a concurrent
  // cancel makes it match nothing; then everything is rolled back and the detailed path below
  // decides (and explains). A lost accept is recovered by the protocol (the attempt stays
  // ASSIGNED, which heartbeats and the completion accept), so it need not wait for the disk.
  bool fast = false;
  absl::Status fs = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    fast = !Exec(tx,
                 "WITH a AS (UPDATE attempts SET state = 'RUNNING', accepted_at = now(), lost_at = "
                 "NULL, "
                 "lease_expires_at = now() + $4::interval WHERE id = $1 AND epoch = $2 AND "
                 "agent_name = $3 "
                 "AND state = 'ASSIGNED' RETURNING job_id, set_config('synchronous_commit', 'off', "
                 "true)) "
                 "UPDATE jobs SET state = 'RUNNING', updated_at = now() FROM a "
                 "WHERE jobs.id = a.job_id AND jobs.state = 'ASSIGNED' AND jobs.current_epoch = $2 "
                 "RETURNING jobs.id",
                 req.attempt_id(), req.epoch(), req.agent(), Interval(timings_.assigned_lease))
                .empty();
    return fast ? absl::OkStatus() : absl::CancelledError("not the common case");
  });
  if (fs.ok()) return fs;
  if (!absl::IsCancelled(fs)) return fs;
  absl::Status result;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    result = absl::OkStatus();
    auto r = Exec(tx,
                  "SELECT a.epoch, a.agent_name, a.state, j.state, j.id, j.run_id FROM attempts a "
                  "JOIN jobs j ON j.id = a.job_id WHERE a.id = $1 FOR UPDATE OF a, j",
                  req.attempt_id());
    if (r.empty()) return pgq::AttemptNotFound(req.attempt_id());
    if (r[0][0].as<int64_t>() != req.epoch()) {
      return pgq::StaleEpoch(req.attempt_id(), req.epoch());
    }
    if (r[0][1].as<std::string>() != req.agent()) {
      return absl::PermissionDeniedError(
          absl::StrCat("attempt ", req.attempt_id(), " belongs to another agent"));
    }
    std::string astate = r[0][2].as<std::string>();
    JobState jstate = ParseJobState(r[0][3].as<std::string>());
    if (astate == "RUNNING") return absl::OkStatus();  // a replay
    if (astate != "ASSIGNED" && astate != "LOST") {
      return absl::FailedPreconditionError(
          absl::StrCat("attempt ", req.attempt_id(), " already ended (", astate, ")"));
    }
    if (jstate == v1::JOB_STATE_CANCELLING || jstate == v1::JOB_STATE_CANCELLED) {
      auto ended = pgq::EndAttempt(tx, retry_, req.attempt_id(), v1::ATTEMPT_OUTCOME_CANCELLED, 0,
                                   "cancelled before it started", 0);
      if (!ended.ok()) return ended.status();
      result = absl::FailedPreconditionError(
          absl::StrCat("attempt ", req.attempt_id(), ": job was cancelled"));
      return absl::OkStatus();  // commit the cancellation, report the refusal
    }
    // A lost accept is recovered by the protocol (the attempt stays ASSIGNED, and heartbeats
    // and the completion accept that), so it need not wait for the disk.
    pgq::AsyncCommit(tx);
    Exec(tx,
         "UPDATE attempts SET state = 'RUNNING', accepted_at = now(), lost_at = NULL, "
         "lease_expires_at = now() + $2::interval WHERE id = $1",
         req.attempt_id(), Interval(timings_.assigned_lease));
    Exec(tx, "UPDATE jobs SET state = 'RUNNING', updated_at = now() WHERE id = $1",
         r[0][4].as<int64_t>());
    return absl::OkStatus();
  });
  return s.ok() ? result : s;
}

namespace {

// A suite_file job that just succeeded adds the suite's jobs to its run, after the run's last.
absl::Status AddExpandedJobs(pqxx::work& tx, const v1::CompleteAttemptRequest& req, int64_t run_id,
                             const google::protobuf::RepeatedPtrField<v1::JobSpec>& jobs) {
  auto j = Exec(tx,
                "SELECT j.id, j.state FROM attempts a JOIN jobs j ON j.id = a.job_id "
                "WHERE a.id = $1",
                req.attempt_id());
  if (j.empty() || j[0][1].as<std::string>() != "SUCCEEDED") return absl::OkStatus();
  const int next =
      Exec(tx, "SELECT coalesce(max(idx), -1) + 1 FROM jobs WHERE run_id = $1", run_id)[0][0]
          .as<int>();
  RETURN_IF_ERROR(pgq::InsertJobs(tx, run_id, next, jobs, j[0][0].as<int64_t>()));
  pgq::NotifyWork(tx);
  pgq::NotifyRun(tx, run_id);
  return absl::OkStatus();
}

// A commit_range job that just succeeded keeps the commits it listed.
absl::Status SaveCommitList(pqxx::work& tx, const v1::CompleteAttemptRequest& req) {
  std::string json;
  if (auto st = google::protobuf::util::MessageToJsonString(req.commit_list(), &json); !st.ok())
    return absl::InternalError("cannot encode the commit list: " + st.ToString());
  Exec(tx,
       "UPDATE jobs j SET commits = $2::jsonb FROM attempts a WHERE a.id = $1 AND j.id = a.job_id "
       "AND j.state = 'SUCCEEDED'",
       req.attempt_id(), json);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AttemptJob> PgJobStore::JobOfAttempt(int64_t attempt_id) {
  AttemptJob out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  "SELECT j.run_id, j.spec::text FROM attempts a JOIN jobs j ON j.id = a.job_id "
                  "WHERE a.id = $1",
                  attempt_id);
    if (r.empty()) return pgq::AttemptNotFound(attempt_id);
    out.run_id = r[0][0].as<int64_t>();
    auto st = google::protobuf::util::JsonStringToMessage(r[0][1].as<std::string>(), &out.spec);
    if (!st.ok()) return absl::InternalError("stored job spec unreadable: " + st.ToString());
    for (const auto& n : Exec(tx, "SELECT name FROM jobs WHERE run_id = $1", out.run_id))
      out.run_job_names.insert(n[0].as<std::string>());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> PgJobStore::AgentOfAttempt(int64_t attempt_id) {
  std::string agent;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx, "SELECT agent_name FROM attempts WHERE id = $1", attempt_id);
    if (r.empty()) return pgq::AttemptNotFound(attempt_id);
    agent = r[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return agent;
}

absl::StatusOr<int64_t> PgJobStore::CompleteAttempt(
    const v1::CompleteAttemptRequest& req,
    const google::protobuf::RepeatedPtrField<v1::JobSpec>* expansion) {
  int64_t run_id = 0;
  bool job_ended = false;
  // The common case in one statement: a live attempt of the current epoch ends as succeeded,
  // failed or cancelled while its job runs. Anything else (a retry, a replay, a cancel in
  // between, a stale epoch, jobs to add) matches nothing, is rolled back, and takes the
  // detailed path.
  if (req.outcome() != v1::ATTEMPT_OUTCOME_INFRA_FAILURE && expansion == nullptr &&
      !req.has_commit_list()) {
    JobTransition t = OnAttemptEnded(retry_, v1::JOB_STATE_RUNNING, req.outcome(), 0, 0);
    absl::Status fs = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
      auto r =
          Exec(tx,
               "WITH a AS (UPDATE attempts SET state = $3, outcome = $3, exit_code = $4, "
               "message = $5, log_chunks = $6, finished_at = now(), lost_at = NULL "
               "WHERE id = $1 AND epoch = $2 AND state IN ('ASSIGNED', 'RUNNING') "
               "RETURNING job_id) "
               "UPDATE jobs SET state = $7, message = $8, updated_at = now() FROM a "
               "WHERE jobs.id = a.job_id AND jobs.current_epoch = $2 "
               "AND jobs.state IN ('ASSIGNED', 'RUNNING') RETURNING jobs.run_id",
               req.attempt_id(), req.epoch(), OutcomeName(req.outcome()), req.exit_code(),
               req.message(), req.log_chunks(), JobStateName(t.next), JobMessage(t, req.message()));
      if (r.empty()) return absl::CancelledError("not the common case");
      run_id = r[0][0].as<int64_t>();
      job_ended = true;
      return absl::OkStatus();
    });
    if (!fs.ok() && !absl::IsCancelled(fs)) return fs;
  }
  if (!job_ended) {
    absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
      auto ended = pgq::EndAttempt(tx, retry_, req.attempt_id(), req.outcome(), req.exit_code(),
                                   req.message(), req.log_chunks(), "", req.epoch(),
                                   /*defer_run_check=*/true, &job_ended);
      if (!ended.ok()) return ended.status();
      run_id = *ended;
      if (job_ended && expansion != nullptr) return AddExpandedJobs(tx, req, run_id, *expansion);
      if (job_ended && req.has_commit_list()) return SaveCommitList(tx, req);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  // The completion is durable now; a failure here is repaired by the sweeper's backstop.
  if (job_ended) {
    if (auto f = pgq::FinishRunIfDone(pool_, run_id); !f.ok()) return f;
  }
  return run_id;
}
}  // namespace perfgate::controller
