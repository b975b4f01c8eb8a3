// A forge as the outbox sees it: one call per outbox row, with the report already rendered.
// Implementations: GitHubClient (github.h), GitLabClient (gitlab.h).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "controller/forge/forge_report.h"
#include "controller/forge/forge_store.h"

namespace perfgate::controller {

// What one outbox row sends.
struct OutboxContent {
  // check_run, commit_status
  RunReport report;
  std::string suite, sha, details_url;
  int64_t run_id = 0;
  absl::Time started_at, completed_at;
  // pr_comment (the whole comment) and reply (its text); a reply carries `marker` so that it is
  // found, not posted again, after a crash between posting and recording.
  std::string text;
  std::string marker;
};

class ForgeClient {
 public:
  virtual ~ForgeClient() = default;
  virtual SendOutcome Send(const OutboxItem& item, const OutboxContent& content,
                           absl::Time now) = 0;
};

}  // namespace perfgate::controller
