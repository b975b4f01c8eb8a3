// What the fault-matrix tests share: failpoints armed for the processes a test starts, the
// embedded PostgreSQL's postmaster, whether a process is stopped, and PostgreSQL killed while a
// failpoint holds the controller.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>

#include <fstream>
#include <iterator>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"

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

// Waits until `controller` has stopped at its failpoint (NAME=stop), kills the postmaster of
// `cluster_dir` (kill -9) and continues the controller. The killed postmaster's pid; 0, with the
// test failed, when the point was never reached or there was no server.
inline pid_t KillPostgresWhileStopped(pid_t controller, const std::string& cluster_dir,
                                      absl::Duration wait) {
  if (!WaitUntil([&] { return ProcessState(controller) == 'T'; }, wait)) {
    ADD_FAILURE() << "the failpoint was never reached";
    return 0;
  }
  const pid_t postmaster = Postmaster(cluster_dir);
  EXPECT_GT(postmaster, 0) << "no postmaster in " << cluster_dir;
  if (postmaster > 0) {
    EXPECT_EQ(kill(postmaster, SIGKILL), 0);
  }
  EXPECT_EQ(kill(controller, SIGCONT), 0);
  return postmaster;
}

}  // namespace perfgate::testing
