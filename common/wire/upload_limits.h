// The bounds of one agent upload, shared by the agent (which batches within them) and the
// controller (which refuses what exceeds them: controller/queue/upload_checks.h). One place, so
// that the two sides cannot drift apart: an agent batching more than the controller takes had
// its attempt refused as a whole.
#pragma once

#include <cstddef>

namespace perfgate::common {

inline constexpr int kMaxLogChunksPerUpload = 1000;
inline constexpr size_t kMaxLogChunkBytes = 256 * 1024;
inline constexpr int kMaxRepetitionsPerUpload = 100;
// Prometheus range series of one repetition: how many, and how many points in all.
inline constexpr int kMaxSeriesPerRepetition = 4000;
inline constexpr size_t kMaxSeriesPointsPerRepetition = 1'000'000;

}  // namespace perfgate::common
