// What every step of a benchmark attempt shares: the journal its logs go to, the step runner,
// the cancel flag, the attempt's scratch directory and its template variables.
#pragma once

#include <atomic>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "agent/exec/step_runner.h"
#include "common/spec/template.h"
#include "common/time/clock.h"

namespace perfgate::agent {

class HostPool;  // agent/hosts/ssh_hosts.h

struct BenchContext {
  AttemptJournal& journal;
  StepRunner& steps;
  const std::atomic<bool>& cancel;
  std::string workdir;                      // the attempt's scratch directory
  std::map<std::string, std::string> vars;  // {host} {workdir} {port:api} ...
  // Every timing rule of a benchmark reads this clock (tests give a FakeClock).
  const common::Clock& clock = common::RealClock::Get();
  // What the attempt's test hosts are named after (agent/hosts/netns_hosts.h HostsPrefix: the
  // agent's own, so that its next life can find them after a crash).
  std::string hosts_prefix = "pgh";
  // The agent's ssh host pool (--host-pool), for stacks whose hosts are `provider: ssh`; null
  // when it has none.
  HostPool* host_pool = nullptr;

  absl::StatusOr<std::string> Expand(const std::string& text) const {
    return common::ExpandTemplate(text, vars);
  }
  // Sleeps up to `d`, waking early on cancel. False when cancelled.
  bool Sleep(absl::Duration d) const;
};

// A step's failure as the attempt's message: "what: exit code 3" / "what: timed out after 1m".
std::string DescribeFailure(const std::string& what, const StepResult& r);

}  // namespace perfgate::agent
