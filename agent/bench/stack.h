// Stack drivers: provision the system under test for one attempt and tear it down again.
//  - exec: each service a process (its own process group) with args, env and working
//    directory from templates, output to {workdir}/logs/NAME.log, started in order and each
//    waited for with its readiness check; stopped in reverse order with SIGTERM, the stack's
//    grace period, then SIGKILL.
//  - compose: one docker-compose project per attempt (perfgate-<attempt>), `up -d --build`,
//    the readiness checks, and `down -v --remove-orphans` at the end.
// Stop() is always safe to call, also after a failed Start() and more than once; the output
// of every service ends up in the attempt's log.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// The processes of one service, for resource sampling: every descendant of `roots` counts.
struct ServiceProcesses {
  std::string name;
  std::vector<pid_t> roots;
};

class Stack {
 public:
  virtual ~Stack() = default;
  // FAILED_PRECONDITION (naming the service and problem) when the stack cannot come up;
  // CANCELLED on cancel.
  virtual absl::Status Start() = 0;
  virtual void Stop() = 0;
  virtual std::vector<ServiceProcesses> Processes() = 0;
  // Empty while every service runs; otherwise which one died and how.
  virtual std::string CheckAlive() = 0;
};

std::unique_ptr<Stack> MakeStack(const v1::StackSpec& spec, BenchContext& ctx);

}  // namespace perfgate::agent
