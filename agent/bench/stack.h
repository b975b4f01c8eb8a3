// Stack drivers: provision the system under test for one attempt and tear it down again.
//  - exec: each service a process (its own process group) with args, env and working
//    directory from templates, output to {workdir}/logs/NAME.log, started in order and each
//    waited for with its readiness check; stopped in reverse order with SIGTERM, the stack's
//    grace period, then SIGKILL.
//  - compose: one docker-compose project per attempt (perfgate-<agent prefix>-<attempt>), `up -d --build`,
//    the readiness checks, and `down -v --remove-orphans` at the end.
// Stop() is always safe to call, also after a failed Start() and more than once; the output
// of every service ends up in the attempt's log.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// The processes of one service, for resource sampling: every descendant of `roots` counts.
// On another machine (an ssh host), `roots` are its pids there and `read_remote_stat` reads
// its /proc/*/stat (one reading per machine and tick).
struct ServiceProcesses {
  std::string name;
  std::vector<pid_t> roots;
  std::string machine = {};
  std::function<absl::StatusOr<std::string>()> read_remote_stat = {};
  int64_t page_size = 4096;
  double clock_ticks = 100;
};

class Cgroup;

// A test host's control group, for the resource sampler.
struct HostGroup {
  std::string name, role;
  const Cgroup* cgroup;
};

// A stack's test hosts as a fault schedule sees them (agent/bench/faults.h): what it can do to
// a service's instance on a host and to a host's network. Called from the fault thread while
// the load runs; nothing else touches the stack meanwhile.
class HostControl {
 public:
  struct HostInfo {
    std::string name, role, address;
  };
  virtual ~HostControl() = default;
  virtual std::vector<HostInfo> TestHosts() const = 0;
  // SIGKILL to the process group of `service`'s instance on `host`; it is not reported dead.
  virtual absl::Status Kill(const std::string& service, const std::string& host) = 0;
  // Starts a killed instance again as it was first started (not waited for).
  virtual absl::Status Restart(const std::string& service, const std::string& host) = 0;
  // SIGSTOP (pause) or SIGCONT (!pause) to the instance's process group.
  virtual absl::Status Pause(const std::string& service, const std::string& host, bool pause) = 0;
  // Cuts `host` off from the stack's other hosts (both ways, or only what it sends).
  virtual absl::Status Partition(const std::string& host, bool both_ways) = 0;
  // Ends the partition that cut `host` off (other partitions stay).
  virtual absl::Status Heal(const std::string& host) = 0;
  virtual absl::Status SetNetem(const std::string& host, absl::Duration delay,
                                absl::Duration jitter, double loss) = 0;
  virtual absl::Status ClearNetem(const std::string& host) = 0;
  // Waits until every instance restarted since the last call passes its readiness check.
  virtual absl::Status WaitRestartedReady() = 0;
};

class Stack {
 public:
  virtual ~Stack() = default;
  // FAILED_PRECONDITION (naming the service and problem) when the stack cannot come up;
  // CANCELLED on cancel.
  virtual absl::Status Start() = 0;
  virtual void Stop() = 0;
  virtual std::vector<ServiceProcesses> Processes() = 0;
  // The test hosts' control groups (none without hosts).
  virtual std::vector<HostGroup> HostGroups() { return {}; }
  // Empty while every service runs; otherwise which one died and how.
  virtual std::string CheckAlive() = 0;
  // The test hosts, for a fault schedule; null when the stack has none.
  virtual HostControl* host_control() { return nullptr; }
};

std::unique_ptr<Stack> MakeStack(const v1::StackSpec& spec, BenchContext& ctx);

// The compose project of an attempt's stack: its containers, networks and volumes carry it as
// the label com.docker.compose.project. Named after the agent (`agent_prefix`, its HostsPrefix)
// and the attempt: attempt ids are one controller's, and one Docker engine may serve agents of
// several controllers (perfgate-p3kx-12).
std::string ComposeProjectName(const std::string& agent_prefix, const std::string& attempt_id);
// Removes what a previous life of the agent left of an attempt's compose project (dockerd keeps
// containers running when the agent dies); returns what it did, for the attempt's log ("" when
// nothing was left or there is no Docker here).
std::string RemoveLeftoverComposeProject(const std::string& agent_prefix,
                                         const std::string& attempt_id);

}  // namespace perfgate::agent
