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
  absl::StatusOr<v1::UploadBlobChunkResponse> StoreBlobChunk(
      const v1::UploadBlobChunkRequest& req) override;
  absl::StatusOr<v1::GetRunSeriesResponse> GetRunSeries(int64_t run_id,
                                                        const std::string& name) override;
  absl::StatusOr<v1::GetRunDbStatsResponse> GetRunDbStats(int64_t run_id) override;
  absl::StatusOr<v1::ListProfilesResponse> ListProfiles(int64_t run_id) override;
  absl::StatusOr<std::pair<v1::ProfileRef, std::string>> GetProfile(int64_t id) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
