#include "controller/queue/rerun.h"

#include "absl/strings/str_cat.h"

namespace perfgate::controller {

absl::StatusOr<v1::RunSpec> RerunSpec(const v1::Run& run) {
  if (run.confirms_run_id() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", run.id(), " is a confirmation run of run ", run.confirms_run_id(),
        ", which the controller schedules itself; rerun run ", run.confirms_run_id(), " instead"));
  }
  if (run.bisection_id() != 0) {
    return absl::FailedPreconditionError(absl::StrCat("run ", run.id(), " is a step of bisection ",
                                                      run.bisection_id(),
                                                      ", which the controller schedules itself"));
  }
  if (run.jobs().empty())
    return absl::FailedPreconditionError(absl::StrCat("run ", run.id(), " has no jobs"));
  v1::RunSpec spec;
  spec.set_project(run.project());
  spec.set_branch(run.branch());
  spec.set_commit(run.commit());
  spec.set_kind(run.kind());
  spec.set_suite_name(run.suite_name());
  spec.set_baseline_branch(run.baseline_branch());
  spec.set_baseline_runs(run.baseline_runs());
  spec.set_against_run_id(run.against_run_id());
  spec.set_aa(run.aa());
  // A suite_file job reads its suite again (at the same commit: the same jobs); the jobs it added
  // are not submitted twice.
  for (const v1::Job& j : run.jobs()) {
    if (j.expanded_from_job_id() == 0) *spec.add_jobs() = j.spec();
  }
  return spec;
}

}  // namespace perfgate::controller
