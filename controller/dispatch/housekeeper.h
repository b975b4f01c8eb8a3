// Periodic duties of a controller replica: lease sweeping (a singleton among replicas, under
// an advisory lock in the store), ending silent sessions, retention (old runs' logs and
// profiles removed, a few seconds' work at a time), and giving free heap memory back to the
// kernel every kTrimEvery. (Queue-depth gauges are refreshed when /metrics is scraped, not
// here.)
#pragma once

#include <atomic>
#include <thread>

#include "controller/events/event_bus.h"
#include "controller/gateway/session_manager.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_store.h"
#include "controller/queue/retention_store.h"

namespace perfgate::controller {

class Housekeeper {
 public:
  static constexpr absl::Duration kTrimEvery = absl::Seconds(30);
  Housekeeper(JobStore& jobs, SessionManager& sessions, EventBus& work, absl::Duration interval,
              absl::Duration lost_after)
      : jobs_(jobs),
        sessions_(sessions),
        work_(work),
        interval_(interval),
        lost_after_(lost_after) {}
  // Also removes logs and profiles past `ages` every `every` (the first time a minute after
  // start), counting the bytes in `metrics`.
  void SetRetention(RetentionStore* store, RetentionAges ages, absl::Duration every,
                    ControllerMetrics* metrics) {
    retention_ = store;
    ages_ = ages;
    retention_every_ = every;
    metrics_ = metrics;
    next_retention_ = absl::Now() + absl::Minutes(1);
  }
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
  void Retain();
  RetentionStore* retention_ = nullptr;
  RetentionAges ages_;
  absl::Duration retention_every_;
  ControllerMetrics* metrics_ = nullptr;
  absl::Time next_retention_;
  absl::Time next_trim_;
  EventBus stop_signal_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
