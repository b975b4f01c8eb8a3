// AgentStore over PostgreSQL. Safe for concurrent use.
#pragma once

#include "controller/queue/job_state.h"
#include "controller/queue/job_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgAgentStore : public AgentStore {
 public:
  PgAgentStore(PgPool& pool, RetryPolicy retry, QueueTimings timings)
      : pool_(pool), retry_(retry), timings_(timings) {}

  absl::StatusOr<SessionStart> StartSession(const v1::Hello& hello,
                                            const std::string& controller_id) override;
  absl::StatusOr<std::vector<int64_t>> Heartbeat(const std::string& agent,
                                                 const v1::Heartbeat& hb) override;
  absl::Status EndSession(const std::string& agent, const std::string& controller_id) override;
  absl::StatusOr<std::vector<v1::Agent>> ListAgents() override;
  absl::StatusOr<v1::Agent> SetDraining(const std::string& name, bool draining,
                                        const std::string& actor) override;

 private:
  // Refreshes leases of what the agent holds and returns the held attempts it must stop.
  std::vector<int64_t> TouchHeld(pqxx::work& tx, const std::string& agent,
                                 const google::protobuf::RepeatedPtrField<v1::HeldAttempt>& held);

  PgPool& pool_;
  const RetryPolicy retry_;
  const QueueTimings timings_;
};

}  // namespace perfgate::controller
