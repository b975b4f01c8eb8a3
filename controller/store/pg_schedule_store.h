// ScheduleStore over PostgreSQL (migration 0011). A fire is one transaction: the schedule's row
// locked (SKIP LOCKED: a replica firing it now is left alone), its slot checked, the campaign or
// run inserted, next_fire_at moved on.
#pragma once

#include "controller/campaign/schedule_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgScheduleStore : public ScheduleStore {
 public:
  explicit PgScheduleStore(PgPool& pool) : pool_(pool) {}
  absl::StatusOr<v1::Schedule> AddSchedule(const v1::Schedule& s) override;
  absl::StatusOr<std::vector<v1::Schedule>> ListSchedules(bool with_specs) override;
  absl::StatusOr<v1::Schedule> SetPaused(int64_t id, bool paused) override;
  absl::StatusOr<v1::Schedule> RemoveSchedule(int64_t id) override;
  absl::StatusOr<std::vector<v1::Schedule>> DueSchedules(int limit) override;
  absl::StatusOr<bool> Fire(const FireOrder& o) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
