// Periodic duties of a controller replica: lease sweeping (a singleton among replicas, under
// an advisory lock in the store) and ending silent sessions. (Queue-depth gauges are refreshed
// when /metrics is scraped, not here.)
#pragma once

#include <atomic>
#include <thread>

#include "controller/events/event_bus.h"
#include "controller/gateway/session_manager.h"
#include "controller/queue/job_store.h"

namespace perfgate::controller {

class Housekeeper {
 public:
  Housekeeper(JobStore& jobs, SessionManager& sessions, EventBus& work, absl::Duration interval,
              absl::Duration lost_after)
      : jobs_(jobs),
        sessions_(sessions),
        work_(work),
        interval_(interval),
        lost_after_(lost_after) {}
  ~Housekeeper() { Stop(); }
  void Start();
  void Stop();
  void RunOnce();

 private:
  JobStore& jobs_;
  SessionManager& sessions_;
  EventBus& work_;
  const absl::Duration interval_;
  const absl::Duration lost_after_;
  EventBus stop_signal_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
