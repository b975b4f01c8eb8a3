// The heap profile of this process, served the way Go serves /debug/pprof/heap: a gzipped pprof
// protobuf with the sample types alloc_objects, alloc_space, inuse_objects and inuse_space
// (the default), so that perfgate diffs a soak's start and end heaps of the sample target as it
// does a Go service's and names the functions whose memory grew.
//
// The recording is gperftools' heap profiler (libtcmalloc, Debian's libgoogle-perftools-dev):
// started, every allocation and free is recorded with its stack, so the figures are exact, not
// sampled; it costs a stack walk per allocation, hence only with --heap-profile. Its text
// profile (GetHeapProfile) is read and its stacks encoded (pprof_encoder.h). gperftools also
// writes a profile file each time 100 MiB more is in use: those go to a private directory in
// $TMPDIR, removed at StopHeapProfiler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perfgate::sample_target {

// INTERNAL when the private directory cannot be made; FAILED_PRECONDITION when already running.
absl::Status StartHeapProfiler();
// FAILED_PRECONDITION unless started; INTERNAL when gperftools' profile cannot be read.
absl::StatusOr<std::string> HeapProfile();
void StopHeapProfiler();

// One line of gperftools' text profile: "  IN_OBJ: IN_BYTES [ ALLOC_OBJ: ALLOC_BYTES] @ 0x..".
struct HeapStack {
  int64_t inuse_objects = 0, inuse_bytes = 0, alloc_objects = 0, alloc_bytes = 0;
  std::vector<void*> frames;  // return addresses, the allocating function's first
};
// The stacks of a text profile (the header and the MAPPED_LIBRARIES section skipped).
// INVALID_ARGUMENT naming the line that does not parse.
absl::StatusOr<std::vector<HeapStack>> ParseHeapText(const std::string& text);

}  // namespace perfgate::sample_target
