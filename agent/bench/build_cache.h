// Builds the system under test at a commit, once: a mirror of each repository (URL or local
// path) under <cache>/repos/, a checkout per commit under <cache>/builds/<repo>/<sha>/, the
// suite's build commands run in it, and a marker written when they all succeed. A later
// attempt for the same commit reuses the checkout without building. The newest
// `keep_builds` checkouts per repository are kept.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/jobs.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

class BuildCache {
 public:
  explicit BuildCache(std::string root, int keep_builds = 10)
      : root_(std::move(root)), keep_(keep_builds) {}

  // Returns the checkout directory ({srcdir}). FAILED_PRECONDITION (the message says which
  // step) when the repository, the commit or a build command fails; CANCELLED on cancel.
  absl::StatusOr<std::string> Prepare(const v1::BuildSpec& build, const std::string& commit,
                                      BenchContext& ctx);

  // A file's content at a commit, from the mirror (no checkout, so a symlink is never followed
  // out of the repository). FAILED_PRECONDITION when the commit has no such file (or it is a
  // directory or link) or it is larger than `max_bytes`.
  absl::StatusOr<std::string> ReadFile(const std::string& repository, const std::string& commit,
                                       const std::string& path, size_t max_bytes,
                                       BenchContext& ctx);

  // The commits of good..bad on bad's first-parent line, oldest first, with good's own (git
  // rev-list --first-parent, from the mirror). When good is not an ancestor of bad (the parents
  // of a merge: main and the merged branch's tip), the range starts at their merge base, which
  // is the good end returned. FAILED_PRECONDITION when either end is not in the repository, they
  // share no history, or the range holds more than `max_commits`.
  absl::StatusOr<v1::CommitList> ListCommits(const std::string& repository, const std::string& good,
                                             const std::string& bad, size_t max_commits,
                                             BenchContext& ctx);

 private:
  struct Mirrored {
    std::string key, mirror, sha;
  };
  // The repository's mirror, cloned or fetched, and the commit resolved in it.
  absl::StatusOr<Mirrored> Mirror(const std::string& repository, const std::string& commit,
                                  BenchContext& ctx);
  absl::Status Git(BenchContext& ctx, const std::vector<std::string>& args, const std::string& what,
                   std::string* out = nullptr);
  void Evict(const std::string& builds_dir, const std::string& keep_dir);

  const std::string root_;
  const int keep_;
};

}  // namespace perfgate::agent
