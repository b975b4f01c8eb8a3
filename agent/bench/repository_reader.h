// Jobs that read the repository's mirror (agent/bench/build_cache.h) without building anything,
// their output handed back with the completion:
// - suite_file: the suite file at the attempt's commit; the controller parses it and adds its
//   jobs to the run (controller/queue/suite_file.h);
// - commit_range: the commits of good..bad for a bisection (controller/bisect/).
#pragma once

#include <atomic>
#include <string>

#include "agent/exec/command_runner.h"
#include "agent/spool/attempt_journal.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::agent {

// The most commits a commit_range job lists (a bisection of 100000 commits takes 17 steps).
inline constexpr size_t kMaxRangeCommits = 100000;

class RepositoryReader {
 public:
  RepositoryReader(AttemptJournal& journal, std::string cache_dir, std::string workdir)
      : journal_(journal), cache_dir_(std::move(cache_dir)), workdir_(std::move(workdir)) {}

  // SUCCEEDED with `*text` set; FAILED when the commit has no such file or it is too large (the
  // same commit will not have it on a retry); INFRA_FAILURE when git itself cannot run.
  RunOutcome ReadSuite(const v1::SuiteFileJob& job, std::string* text);
  // SUCCEEDED with `*commits` set; FAILED when an end is unknown, good is not bad's ancestor or
  // the range is too long; INFRA_FAILURE when git itself cannot run.
  RunOutcome ListCommits(const v1::CommitRangeJob& job, v1::CommitList* commits);
  void Cancel(const std::string&) { cancel_ = true; }

 private:
  AttemptJournal& journal_;
  const std::string cache_dir_, workdir_;
  std::atomic<bool> cancel_{false};
};

}  // namespace perfgate::agent
