// BisectStore over PostgreSQL (migration 0019): the bisection's document in a jsonb column, its
// state and change point beside it for queries; runs.bisection_id links its runs.
#pragma once

#include "controller/bisect/bisect_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgBisectStore : public BisectStore {
 public:
  explicit PgBisectStore(PgPool& pool) : pool_(pool) {}
  absl::StatusOr<v1::Bisection> CreateBisection(const v1::Bisection& b,
                                                const v1::RunSpec& listing) override;
  absl::StatusOr<v1::Bisection> GetBisection(int64_t id) override;
  absl::StatusOr<v1::ListBisectionsResponse> ListBisections(
      const v1::ListBisectionsRequest& req) override;
  absl::StatusOr<std::vector<int64_t>> ActiveBisections() override;
  absl::StatusOr<bool> Update(int64_t id, const Advance& advance) override;
  absl::StatusOr<std::vector<StopOrder>> CancelBisection(int64_t id,
                                                         const std::string& actor) override;
  absl::StatusOr<int64_t> NewestSuiteRun(const std::string& project,
                                         const std::string& suite) override;
  absl::StatusOr<ChangePointEnds> ChangePointRange(int64_t change_point_id) override;
  absl::StatusOr<std::vector<int64_t>> ChangePointsToBisect(
      int limit, const std::vector<int64_t>& exclude) override;
  absl::Status SetCulprit(int64_t change_point_id, int64_t bisection_id, const std::string& culprit,
                          bool notify) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
