// Retention's store interface: removing old runs' logs and profiles, and what the store holds.
// Runs, their measurements, verdicts and history are never removed: a baseline stays comparable
// for as long as the lab runs.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfgate/v1/controller.pb.h"

namespace perfgate::controller {

struct RetentionAges {
  absl::Duration logs;      // zero: kept
  absl::Duration profiles;  // zero: kept
};

class RetentionStore {
 public:
  virtual ~RetentionStore() = default;
  // Removes the log chunks of runs finished longer than `ages.logs` ago, and the profiles of
  // runs finished longer than `ages.profiles` ago with the blobs no profile names any more;
  // marks those runs (Run.logs_removed_at, profiles_removed_at). With `dry_run`, counts what
  // would go and removes nothing. Works a batch of runs per transaction; past `deadline` it
  // stops after the batch in hand and answers with `more` set.
  virtual absl::StatusOr<v1::CollectGarbageResponse> Collect(
      const RetentionAges& ages, bool dry_run, absl::Time deadline = absl::InfiniteFuture()) = 0;
  // Bytes per kind of data (v1::StorageKind), tables with their indexes and TOAST.
  virtual absl::StatusOr<v1::Storage> Usage() = 0;
};

}  // namespace perfgate::controller
