// A sampling CPU profiler for this process, served the way Go serves /debug/pprof/profile: a
// gzip-compressed pprof protobuf (proto/perfgate/pprof/profile.proto), so that perfgate's
// agent captures the sample target like any Go service and the controller can diff the
// functions where a regression went. It works as gperftools does: ITIMER_PROF delivers SIGPROF
// once per 1/hz of CPU time used by any thread of the process; the handler records that
// thread's stack (backtrace(3), into memory allocated beforehand); afterwards the stacks are
// encoded with their addresses symbolised (pprof_encoder.h).
//
// One profile at a time per process; the HTTP handler calls Profile from its own thread.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfgate::sample_target {

// Profiles the whole process for `duration` at `hz` samples per CPU-second and returns the
// gzipped profile (sample types samples/count and cpu/nanoseconds). FAILED_PRECONDITION when a
// profile is already being taken; INVALID_ARGUMENT for a duration outside (0, 5 min] or hz
// outside [1, 1000]; INTERNAL when the timer or the signal cannot be set up.
absl::StatusOr<std::string> ProfileCpu(absl::Duration duration, int hz = 100);

}  // namespace perfgate::sample_target
