// RetentionStore over PostgreSQL: deletes in batches of runs, one transaction each, so that no
// statement holds locks or runs long (statement_timeout) on a large store.
#pragma once

#include <functional>
#include <pqxx/pqxx>
#include <string>

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
  // What one batch removed (or, in a dry run, would remove).
  struct Removed {
    int64_t items = 0;
    int64_t bytes = 0;
  };
  using RemoveBatch = std::function<Removed(pqxx::work& tx, const std::string& run_ids)>;
  // Batches of runs finished more than `age` ago whose `column` (logs_removed_at,
  // profiles_removed_at) is unset, each removed by `remove` in its own transaction and then
  // marked (unless `dry_run`); the counts added to `out`. Whether it finished before
  // `deadline`.
  absl::StatusOr<bool> ForEachBatch(const char* column, absl::Duration age, bool dry_run,
                                    absl::Time deadline, const RemoveBatch& remove,
                                    v1::CollectedKind* out);
  // Each returns whether it finished before `deadline`.
  absl::StatusOr<bool> CollectLogs(absl::Duration age, bool dry_run, absl::Time deadline,
                                   v1::CollectedKind* out);
  absl::StatusOr<bool> CollectProfiles(absl::Duration age, bool dry_run, absl::Time deadline,
                                       v1::CollectedKind* out);
  PgPool& pool_;
  const int batch_;
};

}  // namespace perfgate::controller
