// A test host's share of the machine: a control group holding its CPU quota, memory limit and
// process count, on cgroup v2 where it is mounted with the cpu and memory controllers, else on
// cgroup v1's cpu, memory and pids hierarchies (the lab machines here). perfgate's groups live
// under a `perfgate` group at the top of each hierarchy, one per host, named after it; a group
// found there from an earlier life of the agent is removed by RemoveLeftoverCgroups.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace perfgate::agent {

struct CgroupLimits {
  double cpus = 0;           // CPU quota in cores (0.5 = half a core); 0: none
  int64_t memory_bytes = 0;  // 0: none
  int64_t max_pids = 0;      // 0: none
};

// What the kernel counted for a group.
struct CgroupStats {
  int64_t memory_peak_bytes = -1;  // -1 where the kernel does not keep it (v2 before 5.19)
  int64_t memory_bytes = 0;        // charged now (RSS, page cache, kernel memory)
  int64_t oom_kills = 0;           // processes killed for exceeding the memory limit
  int64_t throttled_periods = 0;   // CPU periods in which the quota ran out
  double throttled_seconds = 0;
  double cpu_seconds = 0;
};

class Cgroup {
 public:
  enum class Version { kV1, kV2 };
  // Which cgroup version this machine offers for hosts: FAILED_PRECONDITION, saying what is
  // missing, when neither v2 with cpu and memory nor v1 with cpu and memory is mounted writable.
  static absl::StatusOr<Version> Detect();

  // Creates the group `name` (letters, digits, '-', '_', '.') with `limits`. ALREADY_EXISTS if
  // it does; FAILED_PRECONDITION where cgroups cannot be managed.
  static absl::StatusOr<std::unique_ptr<Cgroup>> Create(const std::string& name,
                                                        const CgroupLimits& limits);
  // Kills what is left in the group and removes it.
  ~Cgroup();

  const std::string& name() const { return name_; }
  Version version() const { return version_; }
  // The files a process writes its pid to in order to join (one per hierarchy): for
  // common::SpawnOptions::cgroup_procs, so that a service is inside from its first instruction.
  const std::vector<std::string>& procs_files() const { return procs_files_; }
  std::vector<int> Pids() const;
  absl::StatusOr<CgroupStats> Stats() const;
  // Starts the memory peak afresh from what is charged now (v1; v2 from Linux 6.12). False
  // where the kernel cannot: the peak then counts from the group's creation.
  bool ResetPeak() const;
  // SIGKILL to every process in the group until it is empty (bounded: 5 s), then rmdir.
  absl::Status Remove();

 private:
  Cgroup(std::string name, Version v, std::vector<std::string> dirs);
  std::string name_;
  Version version_;
  std::vector<std::string> dirs_;  // v2: one; v1: cpu, memory (and pids when mounted)
  std::vector<std::string> procs_files_;
  bool removed_ = false;
};

// Removes every group under perfgate's whose name starts with `prefix` (killing its processes):
// what an agent that crashed left behind. Returns how many were removed.
absl::StatusOr<int> RemoveLeftoverCgroups(const std::string& prefix);

}  // namespace perfgate::agent
