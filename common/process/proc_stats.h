// A process's resource use as Linux reports it in /proc: resident memory (now and peak) and CPU
// time (user + system). Plain functions; each call reads /proc afresh.
#pragma once

#include <sys/types.h>

#include "absl/status/statusor.h"

namespace perfgate::common {

struct ProcStats {
  int64_t rss_bytes = 0;       // VmRSS
  int64_t peak_rss_bytes = 0;  // VmHWM
  double cpu_seconds = 0;      // utime + stime
};

// NOT_FOUND when the process is gone.
absl::StatusOr<ProcStats> ReadProcStats(pid_t pid);

}  // namespace perfgate::common
