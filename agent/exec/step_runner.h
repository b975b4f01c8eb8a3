// Runs one child process group to completion for an attempt: output streamed into the
// attempt's journal as log chunks (at line boundaries, at most every 100 ms or 64 KiB) and
// optionally captured, a timeout and a cancel flag both stopping the whole group (SIGTERM,
// grace, SIGKILL), and anything the leader leaves behind in its group stopped too. The group
// is recorded in the journal while it runs, so an agent restart can find it. Used for
// command jobs and for every step of a benchmark (build, fixtures, load generators).
#pragma once

#include <atomic>
#include <string>

#include "absl/time/time.h"
#include "agent/exec/job_sandbox.h"
#include "agent/spool/attempt_journal.h"
#include "common/process/subprocess.h"
#include "common/time/clock.h"

namespace perfgate::agent {

struct StepOptions {
  common::SpawnOptions spawn;  // stdout/stderr are set by the runner
  absl::Duration timeout = absl::Hours(1);
  absl::Duration grace = absl::Seconds(10);
  bool stream_output = true;  // into the journal as STDOUT/STDERR chunks
  size_t capture_stdout = 0;  // keep up to this many bytes of stdout in the result
  // The agent's own tool (git, docker compose, tc): runs with the agent's environment and user,
  // outside the job's sandbox. Everything else the suite brings is job code.
  bool agent_tool = false;
};

struct StepResult {
  int exit_code = 0;  // 128+signal for a signal
  bool timed_out = false;
  bool cancelled = false;
  std::string spawn_error;  // non-empty when the process could not be started
  std::string stdout_text;  // the first capture_stdout bytes
  absl::Duration elapsed;
  bool ok() const { return spawn_error.empty() && !timed_out && !cancelled && exit_code == 0; }
};

class StepRunner {
 public:
  // `cancel` is polled while the step runs.
  StepRunner(AttemptJournal& journal, const std::atomic<bool>& cancel,
             const common::Clock& clock = common::RealClock::Get())
      : journal_(journal), cancel_(cancel), clock_(clock) {}

  StepResult Run(const StepOptions& opts);
  // Job code (every step not marked agent_tool) runs in `sandbox` from now on (null: none).
  // It must outlive the runner.
  void set_sandbox(const JobSandbox* sandbox) { sandbox_ = sandbox; }
  const JobSandbox* sandbox() const { return sandbox_; }
  // Appends a chunk, logging (not failing) if the disk refuses: the outcome still counts.
  void Emit(v1::LogStream stream, const std::string& data);
  // One line on the agent's own stream ("perfgate-agent: " prefixed, newline added).
  void Note(const std::string& line) {
    Emit(v1::LOG_STREAM_AGENT, "perfgate-agent: " + line + "\n");
  }

 private:
  AttemptJournal& journal_;
  const std::atomic<bool>& cancel_;
  const common::Clock& clock_;
  const JobSandbox* sandbox_ = nullptr;
};

}  // namespace perfgate::agent
