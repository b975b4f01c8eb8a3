#include "controller/dispatch/dispatcher.h"

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
  int assigned = 0;
  for (const std::string& agent : sessions_.IdleAgents()) {
    if (stop_) break;
    absl::Duration waited;
    auto claim = jobs_.ClaimJob(agent, &waited);
    if (!claim.ok()) {
      spdlog::warn("msg=\"claim failed\" agent={} error=\"{}\"", agent, claim.status().message());
      return assigned;
    }
    if (!claim->has_value()) continue;
    const v1::Assign& a = **claim;
    sessions_.SetBusy(agent, a.attempt_id());
    v1::ControllerMessage m;
    *m.mutable_assign() = a;
    if (!sessions_.SendTo(agent, m)) {
      spdlog::warn("msg=\"assign undeliverable\" agent={} attempt={}", agent, a.attempt_id());
      v1::CompleteAttemptRequest fail;
      fail.set_attempt_id(a.attempt_id());
      fail.set_epoch(a.epoch());
      fail.set_outcome(v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
      fail.set_message("agent session ended before the assignment was delivered");
      if (auto s = jobs_.CompleteAttempt(fail); !s.ok()) {
        spdlog::warn("msg=\"cannot release undelivered attempt\" attempt={} error=\"{}\"", a.attempt_id(),
                     s.status().message());
      }
      continue;
    }
    metrics_.claims().Increment();
    metrics_.dispatch_latency().Observe(absl::ToDoubleSeconds(waited));
    spdlog::info("msg=\"job assigned\" run={} job={} attempt={} epoch={} agent={}", a.run_id(), a.job_id(),
                 a.attempt_id(), a.epoch(), agent);
    ++assigned;
  }
  return assigned;
}

}  // namespace perfgate::controller
