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
  std::string id = item.remote_id;
  if (id.empty()) {
    id = FindIdByMarker(
        [&](int page) { return Call("GET", absl::StrCat(notes, "?per_page=100&page=", page)); },
        c.marker);
    if (!id.empty() && item.kind == kReply) {
      SendOutcome o;
      o.http_status = 200;
      o.remote_id = id;
      return o;
    }
  }
  const std::string body = json{{"body", c.text}}.dump();
  HttpAnswer a;
  if (!id.empty()) {
    a = Call("PUT", absl::StrCat(notes, "/", id), body);
    if (a.status == 404) id.clear();
  }
  if (id.empty()) {
    a = Call("POST", notes, body);
    id = IdOfAnswer(a.body);
  }
  SendOutcome o = ClassifyAnswer(a, item.attempts, now);
  if (o.kind == SendOutcome::Kind::kSent) o.remote_id = id;
  return o;
}

}  // namespace perfgate::controller
