#include "controller/store/pg_agent_store.h"

#include "absl/strings/str_cat.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

constexpr char kAgentSelect[] =
    "SELECT g.name, g.labels::text, g.capacity, g.connected, g.draining, "
    "extract(epoch from g.last_seen)::float8, coalesce(a.id, 0), coalesce(a.job_id, 0), "
    "g.drained_by "
    "FROM agents g LEFT JOIN attempts a ON a.agent_name = g.name AND a.state IN ('ASSIGNED', "
    "'RUNNING', 'LOST') ";

v1::Agent AgentFromRow(const pqxx::row& r) {
  v1::Agent a;
  a.set_name(r[0].as<std::string>());
  LabelsFromJson(r[1].as<std::string>(), a.mutable_labels());
  a.set_capacity(r[2].as<int>());
  a.set_connected(r[3].as<bool>());
  a.set_draining(r[4].as<bool>());
  SetTimestamp(r[5], a.mutable_last_seen());
  a.set_running_attempt_id(r[6].as<int64_t>());
  a.set_running_job_id(r[7].as<int64_t>());
  a.set_drained_by(r[8].as<std::string>());
  return a;
}

std::vector<int64_t> HeldIds(const google::protobuf::RepeatedPtrField<v1::HeldAttempt>& held,
                             bool running_only) {
  std::vector<int64_t> ids;
  for (const auto& h : held) {
    if (!running_only || h.running()) ids.push_back(h.attempt_id());
  }
  return ids;
}

}  // namespace

std::vector<int64_t> PgAgentStore::TouchHeld(
    pqxx::work& tx, const std::string& agent,
    const google::protobuf::RepeatedPtrField<v1::HeldAttempt>& held) {
  std::string all = BigintArray(HeldIds(held, false));
  // LOST attempts the agent still holds resume: it was a network blip or a controller restart.
  for (const auto& r : Exec(tx,
                            "UPDATE attempts a SET state = CASE WHEN a.accepted_at IS NULL THEN "
                            "'ASSIGNED' ELSE 'RUNNING' END, "
                            "lost_at = NULL FROM jobs j WHERE j.id = a.job_id AND a.agent_name = "
                            "$1 AND a.state = 'LOST' "
                            "AND a.id = ANY($2::bigint[]) RETURNING j.id, j.state, a.epoch = "
                            "j.current_epoch, j.run_id, a.state",
                            agent, all)) {
    if (r[2].as<bool>() && r[1].as<std::string>() == "LOST") {
      Exec(
          tx,
          "UPDATE jobs SET state = $2, message = 'agent is back', updated_at = now() WHERE id = $1",
          r[0].as<int64_t>(), r[4].as<std::string>());
      pgq::RefreshRunState(tx, r[3].as<int64_t>());
    }
  }
  Exec(tx,
       "UPDATE attempts SET lease_expires_at = now() + $2::interval "
       "WHERE agent_name = $1 AND state IN ('ASSIGNED', 'RUNNING')",
       agent, pgq::Interval(timings_.assigned_lease));
  // What the agent runs and should not: cancelled, superseded or ended attempts, and attempts
  // this database does not know as the agent's at all (a claim committed asynchronously that a
  // PostgreSQL crash took back while the agent already ran it).
  std::vector<int64_t> stop;
  for (const auto& r :
       Exec(tx,
            "SELECT h.id FROM unnest($2::bigint[]) AS h(id) LEFT JOIN attempts a ON a.id = h.id "
            "AND a.agent_name = $1 LEFT JOIN jobs j ON j.id = a.job_id WHERE a.id IS NULL OR "
            "j.state IN ('CANCELLING', 'CANCELLED') OR a.epoch <> j.current_epoch OR a.state NOT "
            "IN ('ASSIGNED', 'RUNNING', 'LOST')",
            agent, BigintArray(HeldIds(held, true)))) {
    stop.push_back(r[0].as<int64_t>());
  }
  return stop;
}

absl::StatusOr<SessionStart> PgAgentStore::StartSession(const v1::Hello& hello,
                                                        const std::string& controller_id) {
  SessionStart out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out = SessionStart{};
    out.draining =
        tx.exec_params1(
              "INSERT INTO agents (name, labels, capacity, connected, controller_id, version, "
              "last_seen) "
              "VALUES ($1, $2::jsonb, $3, true, $4, $5, now()) ON CONFLICT (name) DO UPDATE SET "
              "labels = EXCLUDED.labels, capacity = EXCLUDED.capacity, connected = true, "
              "controller_id = EXCLUDED.controller_id, version = EXCLUDED.version, last_seen = "
              "now() "
              "RETURNING draining",
              hello.name(), LabelsToJson(hello.labels()), hello.capacity(), controller_id,
              hello.version())[0]
            .as<bool>();
    // Live attempts the agent does not hold any more: it restarted without them.
    for (const auto& r : Exec(tx,
                              "SELECT id FROM attempts WHERE agent_name = $1 AND state IN "
                              "('ASSIGNED', 'RUNNING', 'LOST') "
                              "AND NOT (id = ANY($2::bigint[])) FOR UPDATE",
                              hello.name(), BigintArray(HeldIds(hello.held(), false)))) {
      auto ended =
          pgq::EndAttempt(tx, retry_, r[0].as<int64_t>(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0,
                          "agent reconnected without this attempt", 0);
      if (!ended.ok()) return ended.status();
    }
    out.stop_attempts = TouchHeld(tx, hello.name(), hello.held());
    pgq::NotifyWork(tx);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<int64_t>> PgAgentStore::Heartbeat(const std::string& agent,
                                                             const v1::Heartbeat& hb) {
  std::vector<int64_t> stop;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    Exec(tx, "UPDATE agents SET last_seen = now(), connected = true WHERE name = $1", agent);
    stop = TouchHeld(tx, agent, hb.held());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stop;
}

absl::Status PgAgentStore::EndSession(const std::string& agent, const std::string& controller_id) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    // Only if no newer session (possibly on another replica) took the agent over.
    Exec(tx, "UPDATE agents SET connected = false WHERE name = $1 AND controller_id = $2", agent,
         controller_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::Agent>> PgAgentStore::ListAgents() {
  std::vector<v1::Agent> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r : tx.exec(absl::StrCat(kAgentSelect, "ORDER BY g.name")))
      out.push_back(AgentFromRow(r));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Agent> PgAgentStore::SetDraining(const std::string& name, bool draining,
                                                    const std::string& actor) {
  v1::Agent out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    if (Exec(tx, "UPDATE agents SET draining = $2, drained_by = $3 WHERE name = $1 RETURNING name",
             name, draining, actor)
            .empty()) {
      return absl::NotFoundError("agent '" + name + "' not found");
    }
    if (!draining) pgq::NotifyWork(tx);
    out = AgentFromRow(Exec(tx, absl::StrCat(kAgentSelect, "WHERE g.name = $1"), name)[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfgate::controller
