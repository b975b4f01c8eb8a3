// Where bisections are kept (docs/bisect.md): one document per bisection, advanced under a row
// lock so that one replica's bisector at a time moves it; its runs carry bisection_id. One
// implementation over PostgreSQL (controller/store/pg_bisect_store.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/queue/job_store.h"
#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/bisect.pb.h"

namespace perfgate::controller {

class BisectStore {
 public:
  virtual ~BisectStore() = default;
  // Inserts the bisection and its first run (the commit listing, given bisection_id by the
  // store) in one transaction; returns it with its id, active_run_id and created_at set.
  // ALREADY_EXISTS when its change point has a bisection already.
  virtual absl::StatusOr<v1::Bisection> CreateBisection(const v1::Bisection& b,
                                                        const v1::RunSpec& listing) = 0;
  // NOT_FOUND for an unknown id.
  virtual absl::StatusOr<v1::Bisection> GetBisection(int64_t id) = 0;
  virtual absl::StatusOr<v1::ListBisectionsResponse> ListBisections(
      const v1::ListBisectionsRequest& req) = 0;
  // Bisections that are listing or running, oldest first.
  virtual absl::StatusOr<std::vector<int64_t>> ActiveBisections() = 0;

  // Moves a bisection on: `advance` gets it under its row's lock and may change it and return a
  // run to submit, which is inserted (with bisection_id) in the same transaction; its id becomes
  // active_run_id and the run_id of the last step when that has none. false (nothing done) when
  // another replica holds the row. An error from `advance` rolls everything back.
  using Advance = std::function<absl::StatusOr<std::optional<v1::RunSpec>>(v1::Bisection*)>;
  virtual absl::StatusOr<bool> Update(int64_t id, const Advance& advance) = 0;
  // Cancels the bisection (CANCELLED, by `actor`) and its open runs; the live attempts whose
  // agents must stop. FAILED_PRECONDITION when it has finished.
  virtual absl::StatusOr<std::vector<StopOrder>> CancelBisection(int64_t id,
                                                                 const std::string& actor) = 0;

  // The newest succeeded run of the suite in the project that measured a benchmark job (not a
  // confirmation or a bisection step): what a bisection measures by default. NOT_FOUND if none.
  virtual absl::StatusOr<int64_t> NewestSuiteRun(const std::string& project,
                                                 const std::string& suite) = 0;
  // A change point and the commit of the baseline run before it in its series (its good end).
  // NOT_FOUND for an unknown id; FAILED_PRECONDITION when no run precedes it.
  struct ChangePointEnds {
    v1::ChangePointRecord record;
    std::string good;
  };
  virtual absl::StatusOr<ChangePointEnds> ChangePointRange(int64_t change_point_id) = 0;
  // Open change points on gating metrics of projects that bisect automatically that have no
  // bisection yet, newest first, one per run and job (metrics that changed at the same run share a
  // range), but for those of `exclude` and their siblings.
  virtual absl::StatusOr<std::vector<int64_t>> ChangePointsToBisect(
      int limit, const std::vector<int64_t>& exclude) = 0;
  // Records what the change point's bisection found on it, on its siblings (the same run and
  // job) and on their alerts; `notify`: the alerts go out again, naming it.
  virtual absl::Status SetCulprit(int64_t change_point_id, int64_t bisection_id,
                                  const std::string& culprit, bool notify) = 0;
};

}  // namespace perfgate::controller
