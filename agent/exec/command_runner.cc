#include "agent/exec/command_runner.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/exec/step_runner.h"
#include "common/log/log.h"

namespace perfgate::agent {

void CommandRunner::Cancel(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (cancel_reason_.empty()) cancel_reason_ = reason;
  }
  cancel_ = true;
}

RunOutcome CommandRunner::Run(const v1::CommandJob& job) {
  std::string workdir = job.working_dir().empty() ? default_workdir_ : job.working_dir();
  std::error_code ec;
  std::filesystem::create_directories(workdir, ec);
  StepRunner steps(journal_, cancel_);
  steps.set_sandbox(sandbox_);
  StepOptions o;
  o.spawn.argv = {"/bin/sh", "-c", job.command()};
  o.spawn.env_add.insert(job.env().begin(), job.env().end());
  const v1::Assign& a = journal_.assign();
  o.spawn.env_add["PERFGATE_RUN_ID"] = std::to_string(a.run_id());
  o.spawn.env_add["PERFGATE_JOB_ID"] = std::to_string(a.job_id());
  o.spawn.env_add["PERFGATE_ATTEMPT_ID"] = std::to_string(a.attempt_id());
  o.spawn.env_add["PERFGATE_COMMIT"] = a.commit();
  o.spawn.working_dir = workdir;
  o.timeout = absl::Seconds(job.timeout_seconds());
  o.grace = absl::Seconds(job.cancel_grace_seconds());
  steps.Note(absl::StrCat("attempt ", a.attempt_id(), " starting: ", job.command()));
  StepResult r = steps.Run(o);
  RunOutcome out;
  out.exit_code = r.exit_code;
  if (!r.spawn_error.empty()) {
    return {v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0, r.spawn_error};
  } else if (r.cancelled) {
    absl::MutexLock lock(&mu_);
    out.outcome = v1::ATTEMPT_OUTCOME_CANCELLED;
    out.message = cancel_reason_.empty() ? "cancelled" : cancel_reason_;
  } else if (r.timed_out) {
    out.outcome = v1::ATTEMPT_OUTCOME_FAILED;
    out.message = absl::StrCat("timed out after ", job.timeout_seconds(), "s");
  } else if (r.exit_code == 0) {
    out.outcome = v1::ATTEMPT_OUTCOME_SUCCEEDED;
  } else {
    out.outcome = v1::ATTEMPT_OUTCOME_FAILED;
    out.message = r.exit_code == 127 ? "exit code 127 (command not found?)"
                                     : absl::StrCat("exit code ", r.exit_code);
  }
  steps.Note(absl::StrCat("attempt ", a.attempt_id(), " ended: ",
                          v1::AttemptOutcome_Name(out.outcome), " exit_code=", r.exit_code,
                          absl::StrFormat(" after %.3fs", absl::ToDoubleSeconds(r.elapsed))));
  return out;
}

}  // namespace perfgate::agent
