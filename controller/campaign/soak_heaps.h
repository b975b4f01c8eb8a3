// Leak suspects (docs/campaigns.md): a soak phase takes heap profiles of the services that have
// them at its start and end (points soak[.NAME].start / .end); the functions whose in-use
// memory grew between the two, means over a run's repetitions, are what the campaign report
// names as leak suspects.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/queue/result_store.h"
#include "perfgate/v1/campaign.pb.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::controller {

// A function is a suspect when its flat in-use memory grew by at least this much over the soak
// (smaller growth is buffers and caches settling, not worth a line), and by two sampling
// periods of a sampled profile (Go's and tcmalloc's record one allocation per ~512 KiB on
// average and scale it up: a single recorded allocation can read as 512 KiB).
inline constexpr int64_t kLeakSuspectBytes = 256 << 10;
inline constexpr int kMaxLeakSuspects = 5;

// The soaks' heaps of run `run_id`: one SoakHeap per (stored job, soak phase, service) with both
// a start and an end profile; `job` is the stored job name and `tier` is left empty. Profiles
// that cannot be read are skipped (a soak whose every pair is unreadable gives no entry).
absl::StatusOr<std::vector<v1::SoakHeap>> LoadSoakHeaps(ResultStore& results, int64_t run_id);

// The soak phases' mean length per (job, phase), from the repetitions' phase records.
double SoakSeconds(const v1::JobResults& job, const std::string& phase);

}  // namespace perfgate::controller
