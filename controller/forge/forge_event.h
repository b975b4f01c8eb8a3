// A webhook from a forge (GitHub or GitLab) reduced to what perfgate acts on. Pure: parsing
// only, after the caller has checked the delivery's signature or token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace perfgate::controller {

inline constexpr char kGitHub[] = "github";
inline constexpr char kGitLab[] = "gitlab";

struct ForgeEvent {
  enum class Kind {
    kIgnored,      // acknowledged, nothing to do (ignored_why says why)
    kPing,         // GitHub's hello when a hook is created
    kPush,         // a branch moved
    kPullRequest,  // opened, updated (new head), reopened, closed, labelled
    kComment,      // a new comment on a pull (merge) request
  };
  Kind kind = Kind::kIgnored;
  std::string forge;          // kGitHub / kGitLab
  std::string event;          // "pull_request.synchronize", "Merge Request Hook.update"
  std::string ignored_why;    // kIgnored
  std::string repository;     // owner/name (GitLab: path_with_namespace)
  std::string repository_id;  // GitLab's numeric project id ("" on GitHub)
  std::string default_branch;
  std::string clone_url;        // GitHub repository.clone_url; GitLab project.git_http_url
  int64_t installation_id = 0;  // GitHub App installations

  // kPush: the branch (refs/heads/ stripped) and its new head.
  std::string branch;
  std::string after_sha;

  // kPullRequest (and kComment on GitLab, whose notes carry the merge request).
  std::string action;  // opened, synchronize, reopened, closed, labeled (GitLab mapped to these)
  int pr_number = 0;
  std::string head_sha, head_branch, base_branch;
  bool from_fork = false;
  std::vector<std::string> labels;

  // kComment
  std::string comment_body;
  std::string commenter;
  std::string author_association;  // GitHub: OWNER, MEMBER, COLLABORATOR, ...; GitLab: ""
  bool commenter_is_bot = false;
  bool has_pr_details = false;  // GitLab notes carry the MR's head; GitHub comments do not
};

// `event` is the X-GitHub-Event header. INVALID_ARGUMENT naming the field for a body that is
// not the JSON this event must be.
absl::StatusOr<ForgeEvent> ParseGitHubEvent(absl::string_view event, absl::string_view body);
// `event` is the X-Gitlab-Event header.
absl::StatusOr<ForgeEvent> ParseGitLabEvent(absl::string_view event, absl::string_view body);

}  // namespace perfgate::controller
