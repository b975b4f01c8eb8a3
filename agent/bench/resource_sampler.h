// Samples the stack's processes from /proc while a repetition runs: every `interval`, each
// service's resident memory (summed over its process tree) and CPU time. At the end it reports
// per service: rss_peak and rss_mean (MiB, over the samples), cpu_seconds (CPU time spent in
// the window, including children that exited and were waited for) and cpu_util (cpu_seconds
// per second of the window: 1.0 = one core busy). Per test host (its control group, under the
// host's name): rss_peak and rss_mean of its processes, memory_peak (what the kernel charged
// the group at most: RSS, page cache, kernel memory), cpu_seconds and cpu_util from the group's
// accounting, throttled_seconds (time its CPU quota held it back) and oom_kills (processes the
// kernel killed for going over its memory limit); per role of hosts (under the role's name) the
// largest of its hosts' figures, and oom_kills summed.
#pragma once

#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/bench/stack.h"
#include "agent/hosts/cgroup.h"
#include "common/time/clock.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::agent {

struct ProcTreeSample {
  int64_t rss_bytes = 0;
  double cpu_seconds = 0;  // utime + stime of the live tree, plus the roots' waited-for children
  int processes = 0;
};

// One reading of every process's /proc/PID/stat: the trees of many services are summed from
// one snapshot (a sampler tick reads /proc once, not once per service and host).
class ProcSnapshot {
 public:
  // Every process, or only those of `only` (which must hold whole trees to sum them).
  static ProcSnapshot Take(const std::vector<pid_t>* only = nullptr);
  // From /proc/PID/stat lines read on another machine, with its page size and clock ticks.
  static ProcSnapshot Parse(const std::string& lines, int64_t page_size, double clock_ticks);
  // The tree under `roots` (the roots included). Gone processes are skipped.
  ProcTreeSample Tree(const std::vector<pid_t>& roots) const;

 private:
  struct Proc {
    pid_t ppid = 0;
    double cpu = 0, children_cpu = 0;
    int64_t rss_pages = 0;
  };
  std::map<pid_t, Proc> all_;
  std::map<pid_t, std::vector<pid_t>> children_;
  int64_t page_size_ = sysconf(_SC_PAGE_SIZE);
};

// One reading of the trees under `roots` (the roots included). Gone processes are skipped.
ProcTreeSample SampleProcessTree(const std::vector<pid_t>& roots);

class ResourceSampler {
 public:
  explicit ResourceSampler(std::vector<ServiceProcesses> services,
                           std::vector<HostGroup> hosts = {},
                           absl::Duration interval = absl::Milliseconds(250),
                           const common::Clock& clock = common::RealClock::Get());
  ~ResourceSampler();  // Stop()s

  void Start();
  // Stops sampling and appends the measurements (proc.SERVICE.*) to `out`.
  void Stop(v1::RepetitionResult* out);

  // One service's (or host's) samples so far.
  struct Series {
    int64_t peak = 0;
    double rss_sum = 0;
    int samples = 0;
    double cpu_first = -1, cpu_last = 0;
    // Least squares of RSS (MiB) over time (hours since the start): the slope's sums.
    double sum_t = 0, sum_tt = 0, sum_y = 0, sum_ty = 0;
  };
  // Each service's RSS slope so far, MiB per hour (least squares over its samples); a service
  // with fewer than 3 samples is left out.
  std::map<std::string, double> RssSlopes();

 private:
  struct HostSeries {
    Series rss;
    CgroupStats first;
    bool have_first = false;
  };
  void Tick();
  void AddHostFigures(v1::RepetitionResult* out, double window) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<ServiceProcesses> services_;
  const std::vector<HostGroup> hosts_;
  const absl::Duration interval_;
  const common::Clock& clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Series> series_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, HostSeries> host_series_ ABSL_GUARDED_BY(mu_);
  absl::Time started_;
  std::thread thread_;
};

}  // namespace perfgate::agent
