// Starting and stopping child processes the way a benchmark lab needs: each child leads its own
// process group (so a whole tree can be signalled), optionally as another user, with its
// output on pipes or files. Plain functions over the OS; callers own the pids they get.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfgate::common {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env_add;  // on top of the parent's environment
  bool inherit_env = true;                     // false: env_add is the whole environment
  std::string working_dir;                     // empty: inherit
  bool new_process_group = true;
  std::optional<uid_t> uid;  // drop to this user (and gid) when set
  std::optional<gid_t> gid;
  // Test hosts (agent/hosts/): before exec the child joins these control groups (writes its
  // pid to each cgroup.procs file), enters this network namespace (a path such as
  // /run/netns/NAME) and, with a hostname, a UTS namespace of its own carrying it. Spawn
  // returns once the child is inside, or INTERNAL naming the step that failed.
  std::vector<std::string> cgroup_procs;
  std::string netns;
  std::string hostname;
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: inherit
  int stderr_fd = -1;  // -1: inherit
};

// fork+exec. Returns the child's pid (also its process-group id when new_process_group).
// INTERNAL when fork fails (or the network namespace cannot be opened); a failing exec makes
// the child exit with status 127.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& opts);

// Sends `sig` to every process in group `pgid`. OK if the group no longer exists.
absl::Status SignalGroup(pid_t pgid, int sig);

// True while any process of the group is alive.
bool GroupAlive(pid_t pgid);

// The process's start time in clock ticks since boot (/proc/PID/stat field 22), to tell a
// process from a later one that reuses its pid. NOT_FOUND when it is gone.
absl::StatusOr<uint64_t> ProcessStartTicks(pid_t pid);

// Runs argv to completion, capturing stdout+stderr (at most 1 MiB). Returns exit status in
// *exit_code (128+signal for a signal).
absl::StatusOr<std::string> RunAndCapture(const SpawnOptions& opts, int* exit_code);

// Waits for `pid` up to `timeout`; returns its wait status, or DEADLINE_EXCEEDED.
absl::StatusOr<int> WaitFor(pid_t pid, absl::Duration timeout);

// `name` resolved like a shell would: itself when it contains '/' and is executable, else the
// first executable PATH entry. "" when there is none.
std::string FindProgram(const std::string& name);

// Decodes a waitpid status into an exit code (128+signal for a signal).
int ExitCodeFromWaitStatus(int status);

}  // namespace perfgate::common
