#include "controller/dispatch/dispatcher.h"

#include "common/fault/failpoint.h"
#include "common/log/log.h"

namespace perfgate::controller {

void Dispatcher::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      uint64_t seen = work_.generation();
      int assigned = DispatchOnce();
      // Assigned something: look again at once (more work, more idle agents may remain).
      if (assigned == 0) work_.WaitForChange(seen, poll_);
    }
  });
}

void Dispatcher::Stop() {
  stop_ = true;
  work_.Notify();
  if (thread_.joinable()) thread_.join();
}

int Dispatcher::DispatchOnce() {
  std::vector<std::string> idle = sessions_.IdleAgents();
  if (idle.empty() || stop_) return 0;
  auto claims = jobs_.ClaimJobs(idle);
  if (!claims.ok()) {
    spdlog::warn("msg=\"claim failed\" agents={} error=\"{}\"", idle.size(),
                 claims.status().message());
    return 0;
  }
  if (!claims->empty()) common::Failpoint("controller.claim.after_commit");
  int assigned = 0;
  for (const JobStore::Claim& c : *claims) {
    const v1::Assign& a = c.assign;
    sessions_.SetBusy(c.agent, a.attempt_id());
    v1::ControllerMessage m;
    *m.mutable_assign() = a;
    if (!sessions_.SendTo(c.agent, m)) {
      spdlog::warn("msg=\"assign undeliverable\" agent={} attempt={}", c.agent, a.attempt_id());
      v1::CompleteAttemptRequest fail;
      fail.set_attempt_id(a.attempt_id());
      fail.set_epoch(a.epoch());
      fail.set_outcome(v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
      fail.set_message("agent session ended before the assignment was delivered");
      if (auto s = jobs_.CompleteAttempt(fail); !s.ok()) {
        spdlog::warn("msg=\"cannot release undelivered attempt\" attempt={} error=\"{}\"",
                     a.attempt_id(), s.status().message());
      }
      continue;
    }
    metrics_.claims().Increment();
    metrics_.dispatch_latency().Observe(absl::ToDoubleSeconds(c.waited));
    spdlog::debug("msg=\"job assigned\" run={} job={} attempt={} epoch={} agent={}", a.run_id(),
                  a.job_id(), a.attempt_id(), a.epoch(), c.agent);
    ++assigned;
  }
  return assigned;
}

}  // namespace perfgate::controller
