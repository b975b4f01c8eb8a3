// Where benchmark results live: per-repetition measurements and histograms, written by agents
// (through the gateway) and read by the API.
#pragma once

#include "absl/status/statusor.h"
#include "perfgate/v1/agent_gateway.pb.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::controller {

class ResultStore {
 public:
  virtual ~ResultStore() = default;
  // Stores the repetitions of an attempt; repetitions already stored for it are skipped, so a
  // replay is harmless. NOT_FOUND unknown attempt; FAILED_PRECONDITION stale epoch. Returns the
  // run id.
  virtual absl::StatusOr<int64_t> StoreResults(const v1::UploadResultsRequest& req) = 0;
  // Every job of the run with the repetitions of its latest attempt that reported any
  // (measurements only, no histograms); summaries are left to the caller. NOT_FOUND for an
  // unknown run.
  virtual absl::StatusOr<v1::RunResults> GetRunResults(int64_t run_id) = 0;
};

}  // namespace perfgate::controller
