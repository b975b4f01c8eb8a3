#include "controller/forge/gitlab.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace perfgate::controller {
namespace {

using nlohmann::json;

}  // namespace

HttpAnswer GitLabClient::Call(const std::string& method, const std::string& path,
                              const std::string& body) {
  return http_->Send(
      method, path, body,
      {{"PRIVATE-TOKEN", token_}, {"Accept", "application/json"}, {"User-Agent", "perfgate"}});
}

SendOutcome GitLabClient::Send(const OutboxItem& item, const OutboxContent& c, absl::Time now) {
  // The project by id, or by its URL-encoded path.
  const std::string project = "/projects/" + UrlEncode(item.repository);
  if (item.kind == kCommitStatus) {
    json body = {{"state", c.report.gitlab_state},
                 {"name", "perfgate/" + c.suite},
                 {"target_url", c.details_url},
                 {"description", c.report.description}};
    HttpAnswer a = Call("POST", absl::StrCat(project, "/statuses/", c.sha), body.dump());
    // GitLab refuses a transition to the state a status already has ("Cannot transition status
    // via :run from :running"): the status is as wanted.
    if (a.status == 400 &&
        ForgeMessage(a.body).find("Cannot transition status") != std::string::npos)
      a.status = 200;
    return ClassifyAnswer(a, item.attempts, now);
  }
  if (item.kind != kPrComment && item.kind != kReply) {
    SendOutcome o;
    o.kind = SendOutcome::Kind::kRefused;
    o.error = "GitLab has no " + item.kind;
    return o;
  }
  const std::string notes = absl::StrCat(project, "/merge_requests/", item.pr_number, "/notes");
  CommentApi api;
  api.list = [&](int page) {
    return Call("GET", absl::StrCat(notes, "?per_page=100&page=", page));
  };
  api.update = [&](const std::string& id, const std::string& body) {
    return Call("PUT", absl::StrCat(notes, "/", id), body);
  };
  api.create = [&](const std::string& body) { return Call("POST", notes, body); };
  return UpsertComment(api, item.remote_id, c.text, c.marker, item.kind == kReply, item.attempts,
                       now);
}

}  // namespace perfgate::controller
