// Host figures for a measured window, from /proc: the evidence that a repetition was not
// disturbed (another job hogging the CPU, swapping, a storm of context switches).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/time/clock.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::agent {

struct HostSnapshot {
  absl::Time at;
  uint64_t cpu_total = 0;  // jiffies over all CPUs (/proc/stat "cpu" line)
  uint64_t cpu_idle = 0;   // idle + iowait
  uint64_t cpu_iowait = 0;
  uint64_t ctxt = 0;  // context switches since boot
  double load1 = 0;   // /proc/loadavg
  int64_t mem_total_kib = 0;
  int64_t mem_available_kib = 0;
  int64_t swap_used_kib = 0;
};

absl::StatusOr<HostSnapshot> ReadHostSnapshot(const common::Clock& clock);

// Appends host.cpu_util (busy share of all cores, 0..1), host.iowait_util, host.ctx_switches
// (per second), host.load1 (at the end), host.mem_used (MiB at the end) and host.swap_used (MiB).
void AppendHostMeasurements(const HostSnapshot& start, const HostSnapshot& end,
                            v1::RepetitionResult* out);

}  // namespace perfgate::agent
