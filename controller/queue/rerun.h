// What a rerun submits: the spec a stored run was made from, rebuilt from the run and its jobs
// (stored with their defaults filled in, so validating the result again changes nothing). Pure.
#pragma once

#include "absl/status/statusor.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// FAILED_PRECONDITION for a confirmation run (the controller schedules those itself; rerun the
// candidate instead) and for a run whose jobs were not loaded.
absl::StatusOr<v1::RunSpec> RerunSpec(const v1::Run& run);

}  // namespace perfgate::controller
