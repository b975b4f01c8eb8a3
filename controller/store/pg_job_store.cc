#include "controller/store/pg_job_store.h"

#include "controller/queue/run_spec.h"

#include <google/protobuf/util/json_util.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

using pgq::Interval;

// Advisory lock key for the sweeper (a singleton duty among replicas).
constexpr int64_t kSweepLockKey = 0x7065726673776570;

absl::Status LoadJobs(pqxx::work& tx, v1::Run* run) {
  std::map<int64_t, v1::Job*> by_id;
  for (const auto& r : Exec(tx,
                            "SELECT id, name, state, spec::text, attempts_made, message, "
                            "extract(epoch from updated_at)::float8 "
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

absl::StatusOr<v1::Run> LoadRun(pqxx::work& tx, int64_t id) {
  auto r = Exec(tx, absl::StrCat("SELECT ", pgq::kRunColumns, " FROM runs WHERE id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  v1::Run run;
  pgq::RunFromRow(r[0], &run);
  if (auto s = LoadJobs(tx, &run); !s.ok()) return s;
  return run;
}

}  // namespace

absl::StatusOr<v1::Run> PgJobStore::SubmitRun(const v1::RunSpec& spec) {
  v1::Run out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    if (spec.against_run_id() != 0 &&
        Exec(tx, "SELECT 1 FROM runs WHERE id = $1", spec.against_run_id()).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("against_run_id: run ", spec.against_run_id(), " not found"));
    }
    v1::RunSpec filled = spec;
    if (spec.aa() && spec.commit().empty()) {
      // An A/A measures the baseline's code: the newest succeeded baseline run's commit.
      const std::string branch = spec.baseline_branch().empty() ? spec.branch() : spec.baseline_branch();
      auto b = Exec(tx,
                    "SELECT commit_sha FROM runs WHERE kind = 'BASELINE' AND state = 'SUCCEEDED' "
                    "AND project = $1 AND branch = $2 AND suite_name = $3 ORDER BY id DESC LIMIT 1",
                    spec.project(), branch, spec.suite_name());
      if (b.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "aa: no succeeded baseline run of suite ", spec.suite_name(), " on branch ", branch,
            " to take the commit from; give the commit to measure (--commit)"));
      }
      filled.set_commit(b[0][0].as<std::string>());
    }
    auto run_id = pgq::InsertRun(tx, filled);
    if (!run_id.ok()) return run_id.status();
    auto run = LoadRun(tx, *run_id);
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

absl::StatusOr<std::vector<StopOrder>> PgJobStore::CancelRun(int64_t id) {
  std::vector<StopOrder> stops;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    stops.clear();
    auto run = Exec(tx, "UPDATE runs SET cancel_requested = true WHERE id = $1 RETURNING id", id);
    if (run.empty()) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
    for (const auto& r : Exec(tx, "SELECT id, state FROM jobs WHERE run_id = $1 FOR UPDATE", id)) {
      JobState cur = ParseJobState(r[1].as<std::string>());
      JobState next = OnCancelRequested(cur);
      if (next == cur) continue;
      Exec(tx,
           "UPDATE jobs SET state = $2, message = 'cancel requested', updated_at = now() WHERE id "
           "= $1",
           r[0].as<int64_t>(), JobStateName(next));
    }
    for (const auto& r :
         Exec(tx,
              "SELECT a.agent_name, a.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
              "WHERE j.run_id = $1 AND a.state IN ('ASSIGNED', 'RUNNING', 'LOST') AND a.epoch = "
              "j.current_epoch",
              id)) {
      stops.push_back({r[0].as<std::string>(), r[1].as<int64_t>()});
      Exec(tx, "SELECT pg_notify($1, $2)", kEventsChannel,
           absl::StrCat("stop:", r[1].as<int64_t>(), ":", r[0].as<std::string>()));
    }
    pgq::RefreshRunState(tx, id);
    pgq::NotifyRun(tx, id);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stops;
}

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

absl::StatusOr<std::vector<JobStore::Claim>> PgJobStore::ClaimJobs(
    const std::vector<std::string>& agents) {
  std::vector<Claim> out;
  std::map<int64_t, std::string> fresh_commits;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    fresh_commits.clear();
    // The idle ones among the agents (not draining, no live attempt), with their labels. The
    // unique index on live attempts is the guarantee; this keeps violations rare.
    std::vector<std::pair<std::string, google::protobuf::Map<std::string, std::string>>> idle;
    for (const auto& r :
         Exec(tx,
              // set_config: commit without waiting for the disk (see the contract).
              "SELECT g.name, g.labels::text, set_config('synchronous_commit', 'off', true) "
              "FROM agents g WHERE g.name = ANY($1::text[]) AND NOT g.draining "
              "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.agent_name = g.name "
              "AND a.state IN ('ASSIGNED', 'RUNNING', 'LOST')) ORDER BY g.last_seen",
              TextArray(agents))) {
      idle.emplace_back(r[0].as<std::string>(), google::protobuf::Map<std::string, std::string>());
      LabelsFromJson(r[1].as<std::string>(), &idle.back().second);
      // Every agent carries its own name, so that a job can be pinned to one (confirmation
      // runs measure both commits on the candidate's machine).
      idle.back().second[std::string(kAgentNameLabel)] = idle.back().first;
    }
    if (idle.empty()) return absl::OkStatus();
    // Walk claimable jobs oldest first, a page at a time, locking them against other replicas.
    // The query touches only the jobs table so that it always walks the partial index in id
    // order and stops early (joining runs or filtering selectors in SQL made the planner sort
    // every claimable job on each claim). Selectors are matched here; older jobs waiting for
    // agents that are not idle do not hide younger ones that idle agents can take.
    std::vector<bool> taken(idle.size(), false);
    size_t free_agents = idle.size();
    std::set<int64_t> started_runs;
    std::map<int64_t, std::string> commits;
    // Lock as many jobs as there are idle agents; page on only if selectors leave some idle.
    const int page = static_cast<int>(idle.size());
    int64_t after = 0;
    for (int pages = 0; pages < 50 && free_agents > 0; ++pages) {
      auto jobs =
          Exec(tx,
               "SELECT id, run_id, spec::text, selector::text, "
               "extract(epoch from now() - greatest(enqueued_at, not_before))::float8 FROM jobs "
               "WHERE state IN ('QUEUED', 'RETRY_WAIT') AND not_before <= now() AND id > $1 "
               "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
               after, page);
      for (const auto& job : jobs) {
        after = job[0].as<int64_t>();
        if (free_agents == 0) break;
        google::protobuf::Map<std::string, std::string> selector;
        LabelsFromJson(job[3].as<std::string>(), &selector);
        size_t pick = idle.size();
        for (size_t i = 0; i < idle.size() && pick == idle.size(); ++i) {
          if (!taken[i] && LabelsMatch(selector, idle[i].second)) pick = i;
        }
        if (pick == idle.size()) continue;  // no idle agent can take it
        taken[pick] = true;
        --free_agents;
        int64_t job_id = job[0].as<int64_t>();
        int64_t run_id = job[1].as<int64_t>();
        if (!commits.count(run_id)) {
          if (std::optional<std::string> cached = CachedCommit(run_id)) {
            commits[run_id] = *cached;  // seen started by a committed claim already
          } else {
            auto r = Exec(tx, "SELECT commit_sha, state FROM runs WHERE id = $1", run_id);
            commits[run_id] = fresh_commits[run_id] = r[0][0].as<std::string>();
            if (r[0][1].as<std::string>() == "QUEUED") started_runs.insert(run_id);
          }
        }
        auto att = Exec(tx,
                        "INSERT INTO attempts (job_id, agent_name, state, lease_expires_at) "
                        "VALUES ($1, $2, 'ASSIGNED', now() + $3::interval) RETURNING id, epoch",
                        job_id, idle[pick].first, Interval(timings_.assigned_lease));
        Claim c;
        c.agent = idle[pick].first;
        c.assign.set_attempt_id(att[0][0].as<int64_t>());
        c.assign.set_epoch(att[0][1].as<int64_t>());
        c.assign.set_job_id(job_id);
        c.assign.set_run_id(run_id);
        c.assign.set_commit(commits[run_id]);
        auto st = google::protobuf::util::JsonStringToMessage(job[2].as<std::string>(),
                                                              c.assign.mutable_spec());
        if (!st.ok()) return absl::InternalError("stored job spec unreadable: " + st.ToString());
        if (!c.assign.spec().commit().empty()) c.assign.set_commit(c.assign.spec().commit());
        Exec(tx,
             "UPDATE jobs SET state = 'ASSIGNED', attempts_made = attempts_made + 1, current_epoch "
             "= $2, "
             "message = '', updated_at = now() WHERE id = $1",
             job_id, c.assign.epoch());
        c.waited = absl::Seconds(job[4].as<double>());
        out.push_back(std::move(c));
      }
      if (static_cast<int>(jobs.size()) < page) break;  // no more claimable jobs
    }
    // A run's first claim starts it; later claims leave the run row alone (no lock).
    for (int64_t run_id : started_runs) {
      if (!Exec(tx,
                "UPDATE runs SET state = 'RUNNING' WHERE id = $1 AND state = 'QUEUED' RETURNING id",
                run_id)
               .empty()) {
        pgq::NotifyRun(tx, run_id);
      }
    }
    return absl::OkStatus();
  });
  if (s.ok()) RememberCommits(fresh_commits);  // only what committed
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

absl::StatusOr<int64_t> PgJobStore::CompleteAttempt(const v1::CompleteAttemptRequest& req) {
  int64_t run_id = 0;
  bool job_ended = false;
  // The common case in one statement: a live attempt of the current epoch ends as succeeded,
  // failed or cancelled while its job runs. Anything else (a retry, a replay, a cancel in
  // between, a stale epoch) matches nothing, is rolled back, and takes the detailed path.
  if (req.outcome() != v1::ATTEMPT_OUTCOME_INFRA_FAILURE) {
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

absl::StatusOr<int64_t> PgJobStore::AppendLogs(const v1::UploadLogRequest& req) {
  int64_t run_id = 0;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  "SELECT a.epoch, j.run_id, j.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                  "WHERE a.id = $1",
                  req.attempt_id());
    if (r.empty()) return pgq::AttemptNotFound(req.attempt_id());
    if (r[0][0].as<int64_t>() != req.epoch()) {
      return pgq::StaleEpoch(req.attempt_id(), req.epoch());
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

absl::StatusOr<SweepResult> PgJobStore::Sweep(absl::Duration lost_after) {
  SweepResult res;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    res = SweepResult{};
    if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kSweepLockKey)[0].as<bool>()) {
      return absl::OkStatus();  // another replica sweeps
    }
    // Live attempts whose lease ran out: LOST, agent kept reserved.
    for (const auto& r :
         tx.exec("UPDATE attempts a SET state = 'LOST', lost_at = now() FROM jobs j "
                 "WHERE j.id = a.job_id AND a.state IN ('ASSIGNED', 'RUNNING') AND "
                 "a.lease_expires_at < now() "
                 "RETURNING a.id, j.id, j.state, j.run_id, a.epoch = j.current_epoch")) {
      ++res.leases_expired;
      JobState js = ParseJobState(r[2].as<std::string>());
      if (r[4].as<bool>() && !IsTerminal(js)) {
        // A job being cancelled has nothing left to reach: it is cancelled.
        std::string next = js == v1::JOB_STATE_CANCELLING ? "CANCELLED" : "LOST";
        Exec(tx,
             "UPDATE jobs SET state = $2, message = 'agent stopped answering', updated_at = now() "
             "WHERE id = $1",
             r[1].as<int64_t>(), next);
      }
      pgq::RefreshRunState(tx, r[3].as<int64_t>());
    }
    // LOST attempts whose agent never came back: give up, release the node, retry the job.
    for (const auto& r : Exec(tx,
                              "SELECT id FROM attempts WHERE state = 'LOST' AND lost_at < now() - "
                              "$1::interval FOR UPDATE",
                              Interval(lost_after))) {
      ++res.lost_expired;
      auto ended =
          pgq::EndAttempt(tx, retry_, r[0].as<int64_t>(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0,
                          "agent lost for longer than lost_after", 0, "EXPIRED");
      if (!ended.ok()) return ended.status();
    }
    res.agents_offline = Exec(tx,
                              "UPDATE agents SET connected = false WHERE connected AND last_seen < "
                              "now() - $1::interval",
                              Interval(timings_.agent_offline_after))
                             .affected_rows();
    // Backstop for FinishRunIfDone: runs whose jobs all ended but whose state was not settled
    // (a controller died between a completion and the run check).
    for (const auto& r : tx.exec("SELECT r.id FROM runs r WHERE r.state IN ('QUEUED', 'RUNNING', "
                                 "'CANCELLING') AND NOT EXISTS ("
                                 "SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.state NOT IN "
                                 "('SUCCEEDED', 'FAILED', 'CANCELLED'))")) {
      pgq::RefreshRunState(tx, r[0].as<int64_t>());
    }
    // Retry backoffs that have run out make work claimable.
    if (!tx.exec("SELECT 1 FROM jobs WHERE state = 'RETRY_WAIT' AND not_before <= now() LIMIT 1")
             .empty()) {
      pgq::NotifyWork(tx);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return res;
}

absl::Status PgJobStore::ExtendLiveLeases(absl::Duration grace) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    Exec(tx,
         "UPDATE attempts SET lease_expires_at = greatest(lease_expires_at, now() + $1::interval) "
         "WHERE state IN ('ASSIGNED', 'RUNNING')",
         Interval(grace));
    Exec(tx, "UPDATE attempts SET lost_at = greatest(lost_at, now()) WHERE state = 'LOST'");
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
