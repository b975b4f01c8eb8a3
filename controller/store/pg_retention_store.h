// RetentionStore over PostgreSQL: deletes in batches of runs, one transaction each, so that no
// statement holds locks or runs long (statement_timeout) on a large store.
#pragma once

#include "controller/queue/retention_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgRetentionStore : public RetentionStore {
 public:
  explicit PgRetentionStore(PgPool& pool, int runs_per_batch = 100)
      : pool_(pool), batch_(runs_per_batch) {}
  absl::StatusOr<v1::CollectGarbageResponse> Collect(
      const RetentionAges& ages, bool dry_run,
      absl::Time deadline = absl::InfiniteFuture()) override;
  absl::StatusOr<v1::Storage> Usage() override;

 private:
  // Each returns whether it finished before `deadline`.
  absl::StatusOr<bool> CollectLogs(absl::Duration age, bool dry_run, absl::Time deadline,
                                   v1::CollectedKind* out);
  absl::StatusOr<bool> CollectProfiles(absl::Duration age, bool dry_run, absl::Time deadline,
                                       v1::CollectedKind* out);
  PgPool& pool_;
  const int batch_;
};

}  // namespace perfgate::controller
