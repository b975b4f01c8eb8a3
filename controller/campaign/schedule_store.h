// Schedules (docs/campaigns.md, "Schedules"): what is stored, and the one step that fires a
// slot. The Scheduler (scheduler.h) decides when; the store makes a fire happen once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfgate/v1/schedule.pb.h"

namespace perfgate::controller {

// What firing one slot of a schedule does.
struct FireOrder {
  int64_t id = 0;
  absl::Time slot;     // the next_fire_at the caller saw; another value means it is gone
  std::string commit;  // the branch's head, resolved by the caller ("" when unknown)
  std::string error;   // why nothing is submitted this time (a head that could not be read)
  absl::Time next;     // the slot after this one
};

class ScheduleStore {
 public:
  virtual ~ScheduleStore() = default;
  // Stores a validated schedule (next_fire_at set). Its id and times filled.
  virtual absl::StatusOr<v1::Schedule> AddSchedule(const v1::Schedule& s) = 0;
  // Every schedule, without its spec unless `with_specs`.
  virtual absl::StatusOr<std::vector<v1::Schedule>> ListSchedules(bool with_specs) = 0;
  // Pauses, or resumes from the cron's next slot after now (missed slots are not made up).
  virtual absl::StatusOr<v1::Schedule> SetPaused(int64_t id, bool paused) = 0;
  virtual absl::StatusOr<v1::Schedule> RemoveSchedule(int64_t id) = 0;
  // Unpaused schedules whose next_fire_at is at or before now, with their specs.
  virtual absl::StatusOr<std::vector<v1::Schedule>> DueSchedules(int limit) = 0;
  // In one transaction: if the schedule is unpaused and still due at `o.slot` (no other
  // controller fired it), submits its campaign or run at `o.commit` (nothing when `o.error`),
  // records the outcome and moves next_fire_at to `o.next`. True when this call fired it.
  virtual absl::StatusOr<bool> Fire(const FireOrder& o) = 0;
};

}  // namespace perfgate::controller
