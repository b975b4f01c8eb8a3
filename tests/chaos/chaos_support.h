// What the fault-matrix tests share: failpoints armed for the processes a test starts, the
// embedded PostgreSQL's postmaster, and whether a process is stopped.
#pragma once

#include <stdlib.h>
#include <sys/types.h>

#include <fstream>
#include <iterator>
#include <string>

namespace perfgate::testing {

// PERFGATE_FAILPOINTS for the processes started while it lives (children inherit it).
class ArmedFailpoints {
 public:
  explicit ArmedFailpoints(const std::string& spec) {
    setenv("PERFGATE_FAILPOINTS", spec.c_str(), 1);
  }
  ~ArmedFailpoints() { unsetenv("PERFGATE_FAILPOINTS"); }
  ArmedFailpoints(const ArmedFailpoints&) = delete;
  ArmedFailpoints& operator=(const ArmedFailpoints&) = delete;
};

// The postmaster of the cluster in `cluster_dir` (0 when it is not running).
inline pid_t Postmaster(const std::string& cluster_dir) {
  std::ifstream in(cluster_dir + "/postmaster.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// The state letter of /proc/PID/stat ('T' stopped, '?' gone).
inline char ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

}  // namespace perfgate::testing
