#include "agent/bench/repository_reader.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/bench/build_cache.h"
#include "agent/exec/bench_context.h"
#include "common/spec/suite_parser.h"

namespace perfgate::agent {
namespace {

// A git failure that another try will not change (an unknown commit, a file it lacks) fails the
// job; anything else (git cannot run, the disk is full) is the machine's and is retried.
RunOutcome Failed(const absl::Status& s, StepRunner& steps) {
  if (absl::IsCancelled(s)) return {v1::ATTEMPT_OUTCOME_CANCELLED, 0, "cancelled"};
  steps.Note(std::string(s.message()));
  return {absl::IsFailedPrecondition(s) ? v1::ATTEMPT_OUTCOME_FAILED
                                        : v1::ATTEMPT_OUTCOME_INFRA_FAILURE,
          0, std::string(s.message())};
}

}  // namespace

RunOutcome RepositoryReader::ReadSuite(const v1::SuiteFileJob& job, std::string* text) {
  StepRunner steps(journal_, cancel_);
  const v1::Assign& a = journal_.assign();
  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  BenchContext ctx{journal_, steps, cancel_, workdir_, {}};
  steps.Note(absl::StrCat("reading the suite ", job.path(), " of ", job.repository(), " at ",
                          a.commit().empty() ? "HEAD" : a.commit()));
  BuildCache cache(cache_dir_);
  auto got = cache.ReadFile(job.repository(), a.commit(), job.path(), common::kMaxSuiteBytes, ctx);
  if (!got.ok()) return Failed(got.status(), steps);
  *text = *std::move(got);
  return {v1::ATTEMPT_OUTCOME_SUCCEEDED, 0, absl::StrCat("read ", job.path())};
}

RunOutcome RepositoryReader::ListCommits(const v1::CommitRangeJob& job, v1::CommitList* commits) {
  StepRunner steps(journal_, cancel_);
  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  BenchContext ctx{journal_, steps, cancel_, workdir_, {}};
  steps.Note(absl::StrCat("listing the commits of ", job.repository(), " from ", job.good(), " to ",
                          job.bad()));
  BuildCache cache(cache_dir_);
  auto got = cache.ListCommits(job.repository(), job.good(), job.bad(), kMaxRangeCommits, ctx);
  if (!got.ok()) return Failed(got.status(), steps);
  *commits = *std::move(got);
  return {v1::ATTEMPT_OUTCOME_SUCCEEDED, 0,
          absl::StrCat("listed ", commits->commits_size(), " commits")};
}

}  // namespace perfgate::agent
