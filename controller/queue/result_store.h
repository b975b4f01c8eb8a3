// Where benchmark results live: per-repetition measurements and histograms, written by agents
// (through the gateway) and read by the API.
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "perfgate/v1/agent_gateway.pb.h"
#include "perfgate/v1/controller.pb.h"
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

  // Stores one chunk of a content-addressed blob (see UploadBlobChunk in agent_gateway.proto).
  // INVALID_ARGUMENT for a chunk beyond what is held, a size that disagrees with an earlier
  // chunk's, or a complete blob whose bytes do not hash to its name (the partial blob is then
  // discarded). NOT_FOUND / FAILED_PRECONDITION for an unknown attempt / stale epoch.
  virtual absl::StatusOr<v1::UploadBlobChunkResponse> StoreBlobChunk(
      const v1::UploadBlobChunkRequest& req) = 0;

  // Range-query series named `name` of the run's repetitions (latest attempt per job).
  virtual absl::StatusOr<v1::GetRunSeriesResponse> GetRunSeries(int64_t run_id,
                                                                const std::string& name) = 0;
  virtual absl::StatusOr<v1::GetRunDbStatsResponse> GetRunDbStats(int64_t run_id) = 0;
  virtual absl::StatusOr<v1::ListProfilesResponse> ListProfiles(int64_t run_id) = 0;
  // One profile's reference and its bytes. NOT_FOUND for an unknown id.
  virtual absl::StatusOr<std::pair<v1::ProfileRef, std::string>> GetProfile(int64_t id) = 0;
};

}  // namespace perfgate::controller
