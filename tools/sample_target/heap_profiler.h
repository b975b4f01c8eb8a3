// The heap profile of this process, served the way Go serves /debug/pprof/heap: a gzipped pprof
// protobuf with the sample types alloc_objects, alloc_space, inuse_objects and inuse_space
// (the default), so that perfgate diffs a soak's start and end heaps of the sample target as it
// does a Go service's and names the functions whose memory grew.
//
// The recording is gperftools' (libtcmalloc, Debian's libgoogle-perftools-dev), in one of two
// modes (--heap-profile MODE):
//  - sampled: tcmalloc's heap sample, one allocation recorded per ~512 KiB allocated on average
//    (as Go samples), scaled back to estimates as pprof does for heap_v2 profiles. Cheap enough
//    for a service under load; tcmalloc reads its sampling period (TCMALLOC_SAMPLE_PARAMETER)
//    only at start, so main re-executes the process with it set (ExecWithHeapSampling).
//  - exact: the heap profiler, every allocation and free recorded with its stack (figures exact;
//    a stack walk and a global lock per allocation: tests/bench/heap_profile_bench.sh measures
//    ~17x less throughput at full load). It also writes a profile file each time 100 MiB more
//    is in use: those go to a private directory in $TMPDIR, removed at StopHeapProfiler.
// Either text profile is read and its stacks encoded (pprof_encoder.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perfgate::sample_target {

inline constexpr int64_t kHeapSamplePeriod = 512 << 10;
inline constexpr char kHeapSampleEnv[] = "TCMALLOC_SAMPLE_PARAMETER";

enum class HeapMode { kSampled, kExact };

// Sampled mode needs tcmalloc's sampling from the process's start: when the environment does
// not set it, re-executes /proc/self/exe with `argv` and it set (returns only on failure,
// INTERNAL). OK when it is set already.
absl::Status ExecWithHeapSampling(char** argv);

// INTERNAL when the exact mode's private directory cannot be made, or sampled mode runs without
// tcmalloc's sampling; FAILED_PRECONDITION when already running.
absl::Status StartHeapProfiler(HeapMode mode);
// FAILED_PRECONDITION unless started; INTERNAL when gperftools' profile cannot be read.
absl::StatusOr<std::string> HeapProfile();
void StopHeapProfiler();

// One line of gperftools' text profile: "  IN_OBJ: IN_BYTES [ ALLOC_OBJ: ALLOC_BYTES] @ 0x..".
struct HeapStack {
  int64_t inuse_objects = 0, inuse_bytes = 0, alloc_objects = 0, alloc_bytes = 0;
  std::vector<void*> frames;  // return addresses, the allocating function's first
};
struct HeapText {
  int64_t period = 0;  // "@ heap_v2/PERIOD": sampled every PERIOD bytes; 0 = every allocation
  std::vector<HeapStack> stacks;
};
// The stacks of a text profile (%warn lines, the header and the MAPPED_LIBRARIES section
// skipped). INVALID_ARGUMENT naming the line that does not parse.
absl::StatusOr<HeapText> ParseHeapText(const std::string& text);
// A sampled stack's counts scaled to estimates of the real ones: each allocation of the
// stack's mean size was recorded with probability 1 - exp(-size / period).
HeapStack Unsample(const HeapStack& s, int64_t period);

}  // namespace perfgate::sample_target
