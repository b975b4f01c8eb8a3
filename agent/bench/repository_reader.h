// A suite_file job on the agent: the suite file read from the repository's mirror at the attempt's
// commit (agent/bench/build_cache.h), handed back with the completion; the controller parses it
// and adds its jobs to the run (controller/queue/suite_file.h).
#pragma once

#include <atomic>
#include <string>

#include "agent/exec/command_runner.h"
#include "agent/spool/attempt_journal.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::agent {

class SuiteFileReader {
 public:
  SuiteFileReader(AttemptJournal& journal, std::string cache_dir, std::string workdir)
      : journal_(journal), cache_dir_(std::move(cache_dir)), workdir_(std::move(workdir)) {}

  // SUCCEEDED with `*text` set; FAILED when the commit has no such file or it is too large (the
  // same commit will not have it on a retry); INFRA_FAILURE when git itself cannot run.
  RunOutcome Run(const v1::SuiteFileJob& job, std::string* text);
  void Cancel(const std::string&) { cancel_ = true; }

 private:
  AttemptJournal& journal_;
  const std::string cache_dir_, workdir_;
  std::atomic<bool> cancel_{false};
};

}  // namespace perfgate::agent
