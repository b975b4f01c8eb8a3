// PgJobStore: lease expiry (the sweeper, one replica at a time) and the start-up grace.
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {
// Advisory lock key for the sweeper (a singleton duty among replicas).
constexpr int64_t kSweepLockKey = 0x7065726673776570;
}  // namespace

using pgq::Interval;

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
      const JobState js = ParseJobState(r[2].as<std::string>());
      const JobState next = OnLeaseExpired(js);
      if (r[4].as<bool>() && next != js) {  // only the job's current attempt moves the job
        Exec(tx,
             "UPDATE jobs SET state = $2, message = 'agent stopped answering', updated_at = now() "
             "WHERE id = $1",
             r[1].as<int64_t>(), JobStateName(next));
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

}  // namespace perfgate::controller
