// Hands queued jobs to idle agents connected to this replica. Wakes on the work EventBus
// (submit, completion, agent idle/connect, NOTIFY from other replicas) and polls slowly as a
// backstop. For each idle agent it claims one job in the database and sends Assign on the
// agent's session; an Assign that cannot be delivered ends the attempt as an infrastructure
// failure at once, so the job is retried without waiting for a lease to run out.
// Start()/Stop() from the owning thread; the loop runs on its own thread.
#pragma once

#include <atomic>
#include <thread>

#include "controller/events/event_bus.h"
#include "controller/gateway/session_manager.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_store.h"

namespace perfgate::controller {

class Dispatcher {
 public:
  Dispatcher(JobStore& jobs, SessionManager& sessions, EventBus& work, ControllerMetrics& metrics,
             absl::Duration poll_interval = absl::Seconds(5))
      : jobs_(jobs), sessions_(sessions), work_(work), metrics_(metrics), poll_(poll_interval) {}
  ~Dispatcher() { Stop(); }

  void Start();
  void Stop();
  // One pass over the idle agents. Returns how many jobs were assigned.
  int DispatchOnce();

 private:
  JobStore& jobs_;
  SessionManager& sessions_;
  EventBus& work_;
  ControllerMetrics& metrics_;
  const absl::Duration poll_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
