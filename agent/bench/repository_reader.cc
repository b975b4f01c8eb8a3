#include "agent/bench/suite_file_reader.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/bench/build_cache.h"
#include "agent/exec/bench_context.h"
#include "common/spec/suite_parser.h"

namespace perfgate::agent {

RunOutcome SuiteFileReader::Run(const v1::SuiteFileJob& job, std::string* text) {
  StepRunner steps(journal_, cancel_);
  const v1::Assign& a = journal_.assign();
  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  BenchContext ctx{journal_, steps, cancel_, workdir_, {}};
  steps.Note(absl::StrCat("reading the suite ", job.path(), " of ", job.repository(), " at ",
                          a.commit().empty() ? "HEAD" : a.commit()));
  BuildCache cache(cache_dir_);
  auto got = cache.ReadFile(job.repository(), a.commit(), job.path(), common::kMaxSuiteBytes, ctx);
  if (!got.ok()) {
    if (absl::IsCancelled(got.status())) return {v1::ATTEMPT_OUTCOME_CANCELLED, 0, "cancelled"};
    steps.Note(std::string(got.status().message()));
    return {absl::IsFailedPrecondition(got.status()) ? v1::ATTEMPT_OUTCOME_FAILED
                                                     : v1::ATTEMPT_OUTCOME_INFRA_FAILURE,
            0, std::string(got.status().message())};
  }
  *text = *std::move(got);
  return {v1::ATTEMPT_OUTCOME_SUCCEEDED, 0, absl::StrCat("read ", job.path())};
}

}  // namespace perfgate::agent
