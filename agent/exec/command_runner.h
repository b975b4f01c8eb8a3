// Runs a CommandJob: /bin/sh -c COMMAND in its own process group, stdout/stderr streamed into
// the attempt's journal as chunks (at a line boundary, at most every 100 ms or 64 KiB), cancel
// and timeout as SIGTERM to the group, the job's grace period, then SIGKILL. When the shell
// exits, anything it left behind in its group is stopped the same way, so no benchmark process
// outlives its attempt. Run() blocks; Cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/exec/job_sandbox.h"
#include "agent/spool/attempt_journal.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::agent {

struct RunOutcome {
  v1::AttemptOutcome outcome = v1::ATTEMPT_OUTCOME_UNSPECIFIED;
  int exit_code = 0;
  std::string message;
};

class CommandRunner {
 public:
  // `journal` receives the output; `default_workdir` is used when the job names none.
  CommandRunner(AttemptJournal& journal, std::string default_workdir)
      : journal_(journal), default_workdir_(std::move(default_workdir)) {}

  RunOutcome Run(const v1::CommandJob& job);
  // The command runs in `sandbox` (job_sandbox.h; not owned; null: none).
  void set_sandbox(const JobSandbox* sandbox) { sandbox_ = sandbox; }
  // Asks the running command to stop (SIGTERM, grace, SIGKILL). Safe before Run starts too.
  void Cancel(const std::string& reason);

 private:
  AttemptJournal& journal_;
  const std::string default_workdir_;
  const JobSandbox* sandbox_ = nullptr;
  std::atomic<bool> cancel_{false};
  absl::Mutex mu_;
  std::string cancel_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perfgate::agent
