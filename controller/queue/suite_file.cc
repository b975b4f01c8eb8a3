#include "controller/queue/suite_file.h"

#include "absl/strings/str_cat.h"
#include "common/spec/suite_parser.h"

namespace perfgate::controller {

absl::StatusOr<google::protobuf::RepeatedPtrField<v1::JobSpec>> ExpandSuiteFile(
    const v1::SuiteFileJob& job, const std::string& text,
    const std::set<std::string>& run_job_names, const common::SpecLimits& limits) {
  auto spec = common::ParseSuite(job.path(), text, {.build_repository = job.repository()});
  if (!spec.ok()) return spec.status();
  for (const v1::JobSpec& j : spec->jobs()) {
    if (j.has_suite_file()) {
      return absl::InvalidArgumentError(
          absl::StrCat(job.path(), ": job ", j.name(), ": a suite file cannot read another"));
    }
    if (run_job_names.count(j.name())) {
      return absl::InvalidArgumentError(absl::StrCat(job.path(), ": job `", j.name(),
                                                     "`: the run already has a job of that name"));
    }
  }
  if (spec->jobs_size() + static_cast<int>(run_job_names.size()) > limits.max_jobs) {
    return absl::InvalidArgumentError(absl::StrCat(
        job.path(), ": ", spec->jobs_size(), " jobs; a run may have at most ", limits.max_jobs));
  }
  if (job.repetitions() > 0) {
    for (v1::JobSpec& j : *spec->mutable_jobs()) {
      if (j.has_benchmark())
        j.mutable_benchmark()->mutable_workload()->set_repetitions(job.repetitions());
    }
  }
  // The parser checked the file's form with default limits; the controller's own apply now
  // (its retry policy, its PromQL check). The run's fields are the run's, not the file's.
  spec->clear_project();
  spec->set_kind(v1::RUN_KIND_EXPERIMENT);
  if (auto s = common::ValidateAndDefaultRunSpec(&*spec, limits); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(job.path(), ": ", s.message()));
  }
  return std::move(*spec->mutable_jobs());
}

}  // namespace perfgate::controller
