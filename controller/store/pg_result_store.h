// ResultStore over PostgreSQL (tables from migrations/0002_results.sql). Measurements go in with
// COPY: a repetition of a large suite carries hundreds of them.
#pragma once

#include "controller/queue/result_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgResultStore : public ResultStore {
 public:
  explicit PgResultStore(PgPool& pool) : pool_(pool) {}

  absl::StatusOr<int64_t> StoreResults(const v1::UploadResultsRequest& req) override;
  absl::StatusOr<v1::RunResults> GetRunResults(int64_t run_id) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
