// The scheduler: every poll, each due schedule's slot is fired once (ScheduleStore::Fire),
// the branch's head resolved first (git ls-remote of the repository its jobs build; a head that
// cannot be read is recorded as the fire's error and the slot passes). The next slot is the
// cron's first after now, so slots missed while no controller ran fire once, not once each.
// Every controller replica runs one; the store's row lock makes each slot fire once.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/time/clock.h"
#include "controller/campaign/schedule_store.h"

namespace perfgate::controller {

// The commit at the head of `branch` in `repository`; an error saying why not.
using HeadResolver = std::function<absl::StatusOr<std::string>(const std::string& repository,
                                                               const std::string& branch)>;

// `git ls-remote REPOSITORY refs/heads/BRANCH` (30 s at most).
absl::StatusOr<std::string> GitBranchHead(const std::string& repository, const std::string& branch);

// The repository a schedule's jobs build ("" when none: the runs measure what is installed).
std::string ScheduleRepository(const v1::Schedule& s);

class Scheduler {
 public:
  Scheduler(ScheduleStore& store, HeadResolver heads, absl::Duration poll,
            const common::Clock& clock = common::RealClock::Get());
  ~Scheduler();  // Stop()s
  void Start();
  void Stop();
  // One pass over the due schedules; how many this call fired.
  int FireDue();
  // Called after each fire that submitted work (wakes dispatchers and watchers).
  void OnFired(std::function<void()> f) { on_fired_ = std::move(f); }

 private:
  ScheduleStore& store_;
  HeadResolver heads_;
  const absl::Duration poll_;
  const common::Clock& clock_;
  std::function<void()> on_fired_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace perfgate::controller
