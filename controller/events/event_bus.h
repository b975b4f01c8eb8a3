// A wake-up signal with a generation counter: producers call Notify(); consumers remember the
// generation they saw, do their work, then wait for it to change. Missed wake-ups are
// impossible because the generation is read before the work. Safe for concurrent use.
#pragma once

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfgate::controller {

class EventBus {
 public:
  void Notify() {
    absl::MutexLock lock(&mu_);
    ++generation_;
  }
  uint64_t generation() const {
    absl::MutexLock lock(&mu_);
    return generation_;
  }
  // True when the generation moved past `seen` within `timeout`.
  bool WaitForChange(uint64_t seen, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto changed = [this, seen]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != seen; };
    return mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace perfgate::controller
