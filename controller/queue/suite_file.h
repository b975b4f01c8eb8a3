// The jobs a suite_file job adds to its run: the suite file an agent read from the repository at
// the run's commit, parsed with the suite parser (errors name the file, line, column and field),
// the benchmark jobs' build repository defaulted to the job's, `repetitions` applied, and the
// controller's own rules and defaults (limits, max attempts, PromQL) applied as to any submission.
#pragma once

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/spec/run_spec_rules.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// `run_job_names`: the run's jobs already (the suite's must not reuse a name). INVALID_ARGUMENT
// with the message the run shows ("`.perfgate/suite.yaml`:3:5: jobs[0].timout: unknown key").
absl::StatusOr<google::protobuf::RepeatedPtrField<v1::JobSpec>> ExpandSuiteFile(
    const v1::SuiteFileJob& job, const std::string& text,
    const std::set<std::string>& run_job_names, const common::SpecLimits& limits);

}  // namespace perfgate::controller
