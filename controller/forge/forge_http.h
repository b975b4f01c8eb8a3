// HTTP to a forge's REST API (GitHub, GitHub Enterprise, GitLab): one base URL (https:// or,
// for tests and local mirrors, http://, with an optional path prefix such as /api/v4), JSON
// bodies, and the one reading of an answer the outbox needs: sent, retry later (when, from
// Retry-After or X-RateLimit-Reset, else backoff), or refused (the forge's message).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/forge/forge_store.h"

namespace httplib {
class Client;
}

namespace perfgate::controller {

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, timeout); `error` says why
  std::string body;
  std::multimap<std::string, std::string> headers;
  std::string error;
  std::string Header(const std::string& name) const;
};

class ForgeHttp {
 public:
  // INVALID_ARGUMENT naming `flag` for a URL that is not http(s)://host[:port][/prefix].
  static absl::StatusOr<std::unique_ptr<ForgeHttp>> Create(const std::string& flag,
                                                           const std::string& base_url,
                                                           absl::Duration timeout);
  ~ForgeHttp();
  // `path` is appended to the base URL's prefix. Thread-safe (one request at a time).
  HttpAnswer Send(const std::string& method, const std::string& path, const std::string& body,
                  const std::multimap<std::string, std::string>& headers);
  const std::string& base_url() const { return base_url_; }

 private:
  ForgeHttp() = default;
  std::string base_url_, prefix_;
  std::unique_ptr<httplib::Client> client_;
  std::mutex mu_;
};

// How the outbox treats an answer: 2xx sent; 429, or 403 naming a rate limit, retried at
// Retry-After / X-RateLimit-Reset; other 4xx refused with the forge's message; 5xx and no answer
// retried with backoff doubling from 2 s to at most 5 min (`attempts` so far).
SendOutcome ClassifyAnswer(const HttpAnswer& a, int attempts, absl::Time now);
// Percent-encodes everything but unreserved characters (RFC 3986), for path segments and query
// values.
std::string UrlEncode(const std::string& s);
// RFC 3339 in UTC, as GitHub's timestamps.
std::string Rfc3339(absl::Time t);

// The "id" of a JSON object answer ({"id": 4}) as text; "" when there is none.
std::string IdOfAnswer(const std::string& body);
// Pages through a list of comments (or notes), 100 a page up to `max_pages`, and returns the id
// of the first whose body contains `marker` ("" when none does or the list cannot be read).
std::string FindIdByMarker(const std::function<HttpAnswer(int page)>& list_page,
                           const std::string& marker, int max_pages = 10);

// One comment (GitHub) or note (GitLab) kept as one: found again by `marker` when its id is not
// known, edited in place, posted when there is none (or it was deleted meanwhile). With
// `post_once` (a reply) one found is left as it is. The outcome carries the comment's id.
struct CommentApi {
  std::function<HttpAnswer(int page)> list;  // 100 a page
  std::function<HttpAnswer(const std::string& id, const std::string& body)> update;
  std::function<HttpAnswer(const std::string& body)> create;
};
SendOutcome UpsertComment(const CommentApi& api, std::string id, const std::string& text,
                          const std::string& marker, bool post_once, int attempts, absl::Time now);

// The forge's error message from a JSON body ({"message": ...}), else the body's start.
std::string ForgeMessage(const std::string& body);

}  // namespace perfgate::controller
