#include "controller/forge/forge_event.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status/macros.h"

namespace perfgate::controller {
namespace {

using nlohmann::json;

// Typed reads along a dotted path; every error names the path and the problem.
class Reader {
 public:
  explicit Reader(const json& root) : root_(root) {}
  const json* Find(absl::string_view path) const {
    const json* cur = &root_;
    size_t start = 0;
    while (start <= path.size()) {
      size_t dot = path.find('.', start);
      if (dot == absl::string_view::npos) dot = path.size();
      std::string key(path.substr(start, dot - start));
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(key);
      if (it == cur->end() || it->is_null()) return nullptr;
      cur = &*it;
      start = dot + 1;
    }
    return cur;
  }
  absl::StatusOr<std::string> Str(absl::string_view path) const {
    const json* v = Find(path);
    if (!v) return absl::InvalidArgumentError(absl::StrCat(path, ": missing"));
    if (!v->is_string()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a string"));
    return v->get<std::string>();
  }
  std::string StrOr(absl::string_view path, std::string dflt = "") const {
    const json* v = Find(path);
    return v && v->is_string() ? v->get<std::string>() : dflt;
  }
  absl::StatusOr<int64_t> Int(absl::string_view path) const {
    const json* v = Find(path);
    if (!v) return absl::InvalidArgumentError(absl::StrCat(path, ": missing"));
    if (!v->is_number_integer())
      return absl::InvalidArgumentError(absl::StrCat(path, ": not an integer"));
    return v->get<int64_t>();
  }
  int64_t IntOr(absl::string_view path, int64_t dflt = 0) const {
    const json* v = Find(path);
    return v && v->is_number_integer() ? v->get<int64_t>() : dflt;
  }
  std::string IdText(absl::string_view path) const {
    const json* v = Find(path);
    if (!v) return "";
    if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
    return v->is_string() ? v->get<std::string>() : "";
  }

 private:
  const json& root_;
};

absl::StatusOr<json> ParseJson(absl::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("body: not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("body: not a JSON object");
  return j;
}

ForgeEvent Ignored(ForgeEvent e, std::string why) {
  e.kind = ForgeEvent::Kind::kIgnored;
  e.ignored_why = std::move(why);
  return e;
}

// "refs/heads/main" -> "main"; "" for tags and anything else.
std::string BranchOfRef(const std::string& ref) {
  absl::string_view r(ref);
  return absl::ConsumePrefix(&r, "refs/heads/") ? std::string(r) : "";
}

bool AllZero(const std::string& sha) {
  return !sha.empty() && sha.find_first_not_of('0') == std::string::npos;
}

std::vector<std::string> LabelNames(const json* labels, const char* key) {
  std::vector<std::string> out;
  if (!labels || !labels->is_array()) return out;
  for (const json& l : *labels)
    if (l.is_object() && l.contains(key) && l[key].is_string()) out.push_back(l[key]);
  return out;
}

// A push: both forges name the ref and the new head alike. A deleted branch's new head is all
// zeros (GitHub also says deleted: true).
absl::StatusOr<ForgeEvent> ParsePush(const Reader& r, ForgeEvent e) {
  std::string ref;
  ASSIGN_OR_RETURN(ref, r.Str("ref"));
  ASSIGN_OR_RETURN(e.after_sha, r.Str("after"));
  e.branch = BranchOfRef(ref);
  if (e.branch.empty()) return Ignored(e, absl::StrCat("push to ", ref, " is not a branch"));
  const json* deleted = r.Find("deleted");
  if (AllZero(e.after_sha) || (deleted && deleted->is_boolean() && deleted->get<bool>()))
    return Ignored(e, absl::StrCat("branch ", e.branch, " was deleted"));
  e.kind = ForgeEvent::Kind::kPush;
  return e;
}

}  // namespace

absl::StatusOr<ForgeEvent> ParseGitHubEvent(absl::string_view event, absl::string_view body) {
  ForgeEvent e;
  e.forge = kGitHub;
  e.event = std::string(event);
  if (event.empty()) return absl::InvalidArgumentError("X-GitHub-Event: missing");
  json j;
  ASSIGN_OR_RETURN(j, ParseJson(body));
  Reader r(j);
  e.action = r.StrOr("action");
  if (!e.action.empty()) absl::StrAppend(&e.event, ".", e.action);
  e.installation_id = r.IntOr("installation.id");
  if (event == "ping") {
    e.kind = ForgeEvent::Kind::kPing;
    e.repository = r.StrOr("repository.full_name");
    return e;
  }
  if (event != "push" && event != "pull_request" && event != "issue_comment")
    return Ignored(e, absl::StrCat("event ", event, " is not one perfgate acts on"));
  ASSIGN_OR_RETURN(e.repository, r.Str("repository.full_name"));
  e.default_branch = r.StrOr("repository.default_branch");
  e.clone_url = r.StrOr("repository.clone_url");

  if (event == "push") return ParsePush(r, e);

  if (event == "pull_request") {
    ASSIGN_OR_RETURN(e.action, r.Str("action"));
    int64_t number = 0;
    ASSIGN_OR_RETURN(number, r.Int("number"));
    e.pr_number = static_cast<int>(number);
    ASSIGN_OR_RETURN(e.head_sha, r.Str("pull_request.head.sha"));
    ASSIGN_OR_RETURN(e.head_branch, r.Str("pull_request.head.ref"));
    ASSIGN_OR_RETURN(e.base_branch, r.Str("pull_request.base.ref"));
    // A fork: the head lives in another repository (or one since deleted).
    const std::string head_repo = r.StrOr("pull_request.head.repo.full_name");
    e.from_fork = head_repo.empty() || head_repo != e.repository;
    e.labels = LabelNames(r.Find("pull_request.labels"), "name");
    if (e.action != "opened" && e.action != "synchronize" && e.action != "reopened" &&
        e.action != "closed" && e.action != "labeled")
      return Ignored(e, absl::StrCat("pull_request action ", e.action, " changes nothing here"));
    e.kind = ForgeEvent::Kind::kPullRequest;
    return e;
  }

  // issue_comment
  ASSIGN_OR_RETURN(e.action, r.Str("action"));
  if (e.action != "created") return Ignored(e, "only new comments carry commands");
  if (!r.Find("issue.pull_request")) return Ignored(e, "comment on an issue, not a pull request");
  int64_t number = 0;
  ASSIGN_OR_RETURN(number, r.Int("issue.number"));
  e.pr_number = static_cast<int>(number);
  ASSIGN_OR_RETURN(e.comment_body, r.Str("comment.body"));
  ASSIGN_OR_RETURN(e.commenter, r.Str("comment.user.login"));
  e.author_association = r.StrOr("comment.author_association");
  e.commenter_is_bot =
      r.StrOr("comment.user.type") == "Bot" || r.Find("comment.performed_via_github_app");
  e.kind = ForgeEvent::Kind::kComment;
  return e;
}

absl::StatusOr<ForgeEvent> ParseGitLabEvent(absl::string_view event, absl::string_view body) {
  ForgeEvent e;
  e.forge = kGitLab;
  e.event = std::string(event);
  if (event.empty()) return absl::InvalidArgumentError("X-Gitlab-Event: missing");
  if (event != "Push Hook" && event != "Merge Request Hook" && event != "Note Hook") {
    return Ignored(e, absl::StrCat("event ", event, " is not one perfgate acts on"));
  }
  json j;
  ASSIGN_OR_RETURN(j, ParseJson(body));
  Reader r(j);
  ASSIGN_OR_RETURN(e.repository, r.Str("project.path_with_namespace"));
  e.repository_id = r.IdText("project.id");
  e.clone_url = r.StrOr("project.git_http_url");
  e.default_branch = r.StrOr("project.default_branch");

  if (event == "Push Hook") return ParsePush(r, e);

  // The merge request: the hook's object_attributes, or a note's merge_request.
  const bool note = event == "Note Hook";
  const std::string mr = note ? "merge_request" : "object_attributes";
  if (note) {
    std::string type;
    ASSIGN_OR_RETURN(type, r.Str("object_attributes.noteable_type"));
    if (type != "MergeRequest") return Ignored(e, "note on a " + type + ", not a merge request");
    if (!r.Find("merge_request")) return absl::InvalidArgumentError("merge_request: missing");
  }
  int64_t iid = 0;
  ASSIGN_OR_RETURN(iid, r.Int(mr + ".iid"));
  e.pr_number = static_cast<int>(iid);
  ASSIGN_OR_RETURN(e.head_sha, r.Str(mr + ".last_commit.id"));
  ASSIGN_OR_RETURN(e.head_branch, r.Str(mr + ".source_branch"));
  ASSIGN_OR_RETURN(e.base_branch, r.Str(mr + ".target_branch"));
  const int64_t source = r.IntOr(mr + ".source_project_id"),
                target = r.IntOr(mr + ".target_project_id");
  e.from_fork = source != target;
  e.has_pr_details = true;
  if (note) {
    e.action = "note";
    absl::StrAppend(&e.event, ".note");
    ASSIGN_OR_RETURN(e.comment_body, r.Str("object_attributes.note"));
    ASSIGN_OR_RETURN(e.commenter, r.Str("user.username"));
    e.commenter_is_bot =
        r.Find("user.bot") && j["user"]["bot"].is_boolean() && j["user"]["bot"].get<bool>();
    e.kind = ForgeEvent::Kind::kComment;
    return e;
  }
  std::string action;
  ASSIGN_OR_RETURN(action, r.Str("object_attributes.action"));
  absl::StrAppend(&e.event, ".", action);
  e.labels = LabelNames(r.Find("labels"), "title");
  // GitLab's "update" is any edit; only a new head (oldrev present) means new code.
  if (action == "open") {
    e.action = "opened";
  } else if (action == "reopen") {
    e.action = "reopened";
  } else if (action == "update" && r.Find("object_attributes.oldrev")) {
    e.action = "synchronize";
  } else if (action == "update") {
    e.action = "labeled";  // labels or description: re-checks the fork label
  } else if (action == "close" || action == "merge") {
    e.action = "closed";
  } else {
    return Ignored(e, absl::StrCat("merge request action ", action, " changes nothing here"));
  }
  e.kind = ForgeEvent::Kind::kPullRequest;
  return e;
}

}  // namespace perfgate::controller
