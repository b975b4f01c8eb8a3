// Test hosts that are real machines (the `ssh` provider of a topology): the agent owns a pool
// of them (`--host-pool FILE`), reaches each with OpenSSH over one multiplexed connection
// (ControlMaster) per attempt, copies the build there with rsync, and starts, signals and
// samples the services there. Everything an attempt puts on a host lives under
// `/tmp/perfgate-hosts/<prefix><tag>/HOST/` (the copy of the build, the services' working
// directories and the file holding each service's pid); teardown kills those services' process
// groups and removes the directory, and RemoveLeftoverSshHosts does the same for an earlier life of
// the agent after a crash.
//
// A pool host is taken by one attempt at a time (HostPool::Acquire); its size is what the pool
// file says (cpus, memory), matched against the roles' sizes, not enforced by the agent.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfgate::agent {

// Where an agent keeps its ssh master connections' sockets: one directory per attempt, named
// by its hosts prefix and tag (a socket's path has at most 107 bytes, so not the work dir).
inline constexpr char kSshLocalDir[] = "/tmp/perfgate-ssh";

// One machine of the pool, as the pool file lists it.
struct PoolHost {
  std::string name;     // how the agent's logs call it
  std::string address;  // a host name or address (or a Host of `ssh_config`)
  int port = 22;
  std::string user;         // default: the agent's user
  std::string key;          // private key file (-i); default: ssh's own
  std::string ssh_config;   // an ssh_config file (-F), e.g. one limactl wrote for a VM
  std::string known_hosts;  // its known_hosts file; default: the pool's (accept-new)
  double cpus = 0;          // its size, matched against the roles': 0 = not said
  uint64_t memory_bytes = 0;
  std::map<std::string, std::string> labels;
};

// Reads a pool file (YAML, format in docs/hosts.md): INVALID_ARGUMENT naming the file, line and
// field of the first problem. At most 64 KiB, 250 hosts, names unique.
absl::StatusOr<std::vector<PoolHost>> LoadHostPool(const std::string& path);

// The pool's machines, handed to one attempt at a time.
class HostPool {
 public:
  explicit HostPool(std::vector<PoolHost> hosts, std::string known_hosts_file = "")
      : hosts_(std::move(hosts)), known_hosts_(std::move(known_hosts_file)) {}
  const std::vector<PoolHost>& hosts() const { return hosts_; }
  // The known_hosts file of hosts that do not name their own.
  const std::string& known_hosts() const { return known_hosts_; }

  // A free machine per wanted size (cpus, memory; 0 = any), best fit first, marked taken.
  // RESOURCE_EXHAUSTED naming the first size no free machine has.
  absl::StatusOr<std::vector<const PoolHost*>> Acquire(
      const std::vector<std::pair<double, uint64_t>>& sizes);
  void Release(const std::vector<const PoolHost*>& taken);

 private:
  std::vector<PoolHost> hosts_;
  std::string known_hosts_;
  absl::Mutex mu_;
  std::vector<bool> busy_ ABSL_GUARDED_BY(mu_) = std::vector<bool>(hosts_.size());
};

// ssh and its options for `h` (over the master connection at `control_path`, if given): what
// precedes the destination on its command line.
std::vector<std::string> SshPrefix(const PoolHost& h, const std::string& known_hosts,
                                   const std::string& control_path);
// The ssh command line that runs `command` (one shell command line) on `h`.
std::vector<std::string> SshArgv(const PoolHost& h, const std::string& known_hosts,
                                 const std::string& control_path, const std::string& command);

// A shell word: `s` in single quotes where it needs them.
std::string ShellQuote(const std::string& s);

class SshTopology {
 public:
  struct Want {
    std::string name, role, index;  // "worker-2", "worker", "2"
    double cpus = 0;
    uint64_t memory_bytes = 0;
  };
  struct Host {
    std::string name, role, index;
    const PoolHost* machine = nullptr;
    std::string address;  // what the stack's templates get as {host}
    std::string control_path;
    std::string dir;                              // its directory there: remote_dir()/NAME
    int64_t page_size = 4096, clock_ticks = 100;  // the machine's, for sampling
  };

  // Takes machines from `pool`, opens a connection to each (in parallel), and makes the
  // attempt's directory `/tmp/perfgate-hosts/<prefix><tag>/HOST` there. `local_dir` holds the
  // control sockets. FAILED_PRECONDITION naming the host that cannot be reached (and ssh's words);
  // RESOURCE_EXHAUSTED when the pool has too few free machines of the sizes. Whatever was made
  // before a failure is undone.
  static absl::StatusOr<std::unique_ptr<SshTopology>> Create(const std::string& prefix,
                                                             const std::string& tag,
                                                             const std::vector<Want>& want,
                                                             HostPool& pool,
                                                             const std::string& local_dir);
  ~SshTopology();
  // Kills what the attempt started on every host, removes its directory there and closes the
  // connections. Goes on past a failure and reports the first; a second call does nothing.
  absl::Status Teardown();

  const std::vector<Host>& hosts() const { return hosts_; }
  const Host* Find(const std::string& name) const;
  // The attempt's directory on every machine (each host's own is a directory in it, so that
  // hosts sharing a disk keep apart).
  const std::string& remote_dir() const { return remote_dir_; }
  absl::Duration setup_time() const { return setup_time_; }

  // Runs `command` (a shell command line) on `h`; its output, or FAILED_PRECONDITION with the
  // exit code and what it printed.
  absl::StatusOr<std::string> Run(const Host& h, const std::string& command) const;
  // The ssh command line that runs `command` on `h`, for a process the caller keeps.
  std::vector<std::string> Argv(const Host& h, const std::string& command) const;
  // Copies the directory `local` to `<host's dir>/<under>` on every host (rsync over the
  // hosts' connections, in parallel). CANCELLED (the copies stopped) once `*cancel` is set.
  absl::Status CopyToAll(const std::string& local, const std::string& under,
                         const std::atomic<bool>* cancel = nullptr) const;

  // A shell command line that starts `argv` on `h` in `dir` (made first) with `env`, recording
  // its pid in the host's directory as `id` (the process leads its own process group: sshd
  // starts every command in a session of its own), and replaces the shell with it.
  std::string LaunchCommand(const Host& h, const std::string& id, const std::string& dir,
                            const std::map<std::string, std::string>& env,
                            const std::vector<std::string>& argv) const;
  // The pid `LaunchCommand` recorded for `id` on `h`, waiting up to `timeout` for it.
  absl::StatusOr<pid_t> LaunchedPid(const Host& h, const std::string& id,
                                    absl::Duration timeout) const;
  // Sends `signal` (a name: KILL, TERM, STOP, CONT) to the process group `pid` on `h`.
  absl::Status Signal(const Host& h, pid_t pid, const std::string& signal) const;
  // Every process's /proc/PID/stat line on `h`, concatenated (for the resource sampler).
  absl::StatusOr<std::string> ReadProcStat(const Host& h) const;

 private:
  SshTopology(HostPool& pool) : pool_(pool) {}
  HostPool& pool_;
  std::vector<const PoolHost*> taken_;
  std::vector<Host> hosts_;
  std::vector<pid_t> masters_;  // each host's master connection (ssh -N), 0 once gone
  std::string remote_dir_;
  absl::Duration setup_time_;
  bool torn_down_ = false;
};

// Kills what an earlier life of the agent (its `prefix`) left on the pool's machines and removes
// its directories there, 16 machines at a time. Returns how many directories it removed;
// unreachable machines are skipped (and named in the log).
int RemoveLeftoverSshHosts(HostPool& pool, const std::string& prefix, const std::string& local_dir);

}  // namespace perfgate::agent
