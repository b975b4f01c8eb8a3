// What an agent may upload: the bounds on one request and the checks of its content, as pure
// functions so that the gateway's handlers stay thin adapters and the rules are unit-tested.
// Every error is INVALID_ARGUMENT naming the field ("results[2].histograms[0]: …").
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "common/wire/upload_limits.h"
#include "perfgate/v1/agent_gateway.pb.h"

namespace perfgate::controller {

struct UploadLimits {
  int max_chunks_per_request = common::kMaxLogChunksPerUpload;
  size_t max_chunk_bytes = common::kMaxLogChunkBytes;
  size_t max_message_bytes = 1024;
  int max_repetitions_per_request = common::kMaxRepetitionsPerUpload;
  int max_measurements_per_repetition = 10'000;
  int max_histograms_per_repetition = 1'000;
  size_t max_name_bytes = 256;
};

// A batch of log chunks: sequence numbers, sizes, streams.
absl::Status CheckLogUpload(const v1::UploadLogRequest& req, const UploadLimits& l);

// A batch of repetition results: names unique and bounded, values finite, histograms decodable,
// observation parts (gaps, series, profiles, database statistics) within bounds.
absl::Status CheckResultsUpload(const v1::UploadResultsRequest& req, const UploadLimits& l);

}  // namespace perfgate::controller
