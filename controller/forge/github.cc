#include "controller/forge/github.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"

namespace perfgate::controller {
namespace {

using nlohmann::json;

constexpr char kAccept[] = "application/vnd.github+json, application/json";

SendOutcome Refused(std::string why) {
  SendOutcome o;
  o.kind = SendOutcome::Kind::kRefused;
  o.error = std::move(why);
  return o;
}

}  // namespace

absl::StatusOr<std::string> GitHubAppJwt(const std::string& app_id, const std::string& key_pem,
                                         absl::Time now) {
  const int64_t t = absl::ToUnixSeconds(now);
  const json payload = {{"iat", t - 60}, {"exp", t + 9 * 60}, {"iss", app_id}};
  const std::string signing_input =
      absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"RS256","typ":"JWT"})"), ".",
                   absl::WebSafeBase64Escape(payload.dump()));
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("GitHub App private key: not an RSA private key in PEM");
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(signing_input.data()),
                        signing_input.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return absl::InternalError("GitHub App JWT: signing failed");
  return absl::StrCat(signing_input, ".", absl::WebSafeBase64Escape(sig));
}

HttpAnswer GitHubClient::Call(const std::string& auth, const std::string& method,
                              const std::string& path, const std::string& body) {
  return http_->Send(method, path, body,
                     {{"Accept", kAccept},
                      {"Authorization", auth},
                      {"X-GitHub-Api-Version", "2022-11-28"},
                      {"User-Agent", "perfgate"}});
}

absl::StatusOr<std::string> GitHubClient::Authorization(int64_t installation_id,
                                                        SendOutcome* failed, int attempts,
                                                        absl::Time now) {
  if (auth_.app_id.empty()) return "Bearer " + auth_.token;
  if (installation_id == 0) {
    *failed = Refused(
        "the webhook named no GitHub App installation (is the app installed on "
        "the repository?)");
    return absl::FailedPreconditionError(failed->error);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(installation_id);
    if (it != tokens_.end() && it->second.expires - absl::Minutes(5) > now)
      return "Bearer " + it->second.token;
  }
  auto jwt = GitHubAppJwt(auth_.app_id, auth_.private_key_pem, now);
  if (!jwt.ok()) {
    *failed = Refused(std::string(jwt.status().message()));
    return jwt.status();
  }
  HttpAnswer a = Call("Bearer " + *jwt, "POST",
                      absl::StrCat("/app/installations/", installation_id, "/access_tokens"), "{}");
  SendOutcome o = ClassifyAnswer(a, attempts, now);
  if (o.kind != SendOutcome::Kind::kSent) {
    o.error = "installation token: " + o.error;
    *failed = o;
    return absl::UnavailableError(o.error);
  }
  json j = json::parse(a.body, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    *failed = ClassifyAnswer(HttpAnswer{502, "", {}, ""}, attempts, now);
    failed->error = "installation token: the answer has no token";
    return absl::UnavailableError(failed->error);
  }
  CachedToken t{j["token"].get<std::string>(), now + absl::Hours(1)};
  std::string err;
  if (j.contains("expires_at") && j["expires_at"].is_string())
    absl::ParseTime(absl::RFC3339_full, j["expires_at"].get<std::string>(), &t.expires, &err);
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[installation_id] = t;
  return "Bearer " + t.token;
}

SendOutcome GitHubClient::Send(const OutboxItem& item, const OutboxContent& c, absl::Time now) {
  SendOutcome failed;
  auto auth = Authorization(item.installation_id, &failed, item.attempts, now);
  if (!auth.ok()) return failed;
  if (item.kind == kCheckRun) return SendCheckRun(*auth, item, c, now);
  if (item.kind == kCommitStatus) return SendStatus(*auth, item, c, now);
  if (item.kind == kPrComment || item.kind == kReply) return SendComment(*auth, item, c, now);
  return Refused("unknown outbox kind " + item.kind);
}

SendOutcome GitHubClient::SendCheckRun(const std::string& auth, const OutboxItem& item,
                                       const OutboxContent& c, absl::Time now) {
  const std::string repo = "/repos/" + item.repository;
  const std::string name = "perfgate / " + c.suite;
  std::string id = item.remote_id;
  if (id.empty()) {
    // Created before a crash kept us from recording it? Then update that one.
    HttpAnswer found =
        Call(auth, "GET",
             absl::StrCat(repo, "/commits/", c.sha, "/check-runs?check_name=", UrlEncode(name),
                          "&filter=latest"));
    if (found.status == 200) {
      json j = json::parse(found.body, nullptr, false);
      if (j.is_object() && j.contains("check_runs") && j["check_runs"].is_array()) {
        for (const json& r : j["check_runs"]) {
          if (r.value("name", "") == name && r.contains("id") && r["id"].is_number_integer()) {
            id = std::to_string(r["id"].get<int64_t>());
            break;
          }
        }
      }
    }
  }
  json body = {{"name", name},
               {"status", StatusName(c.report.status)},
               {"external_id", std::to_string(c.run_id)},
               {"details_url", c.details_url},
               {"output", {{"title", c.report.title}, {"summary", c.report.summary}}}};
  if (c.started_at != absl::InfinitePast()) body["started_at"] = Rfc3339(c.started_at);
  if (c.report.status == RunReport::Status::kCompleted) {
    body["conclusion"] = c.report.conclusion;
    body["completed_at"] = Rfc3339(c.completed_at == absl::InfinitePast() ? now : c.completed_at);
  }
  HttpAnswer a;
  if (!id.empty()) {
    a = Call(auth, "PATCH", absl::StrCat(repo, "/check-runs/", id), body.dump());
    if (a.status == 404) id.clear();  // deleted on GitHub: make it again
  }
  if (id.empty()) {
    body["head_sha"] = c.sha;
    a = Call(auth, "POST", repo + "/check-runs", body.dump());
    id = IdOfAnswer(a.body);
  }
  SendOutcome o = ClassifyAnswer(a, item.attempts, now);
  if (o.kind == SendOutcome::Kind::kSent) o.remote_id = id;
  return o;
}

SendOutcome GitHubClient::SendStatus(const std::string& auth, const OutboxItem& item,
                                     const OutboxContent& c, absl::Time now) {
  json body = {{"state", c.report.status_state},
               {"target_url", c.details_url},
               {"description", c.report.description},
               {"context", "perfgate/" + c.suite}};
  HttpAnswer a = Call(auth, "POST", absl::StrCat("/repos/", item.repository, "/statuses/", c.sha),
                      body.dump());
  return ClassifyAnswer(a, item.attempts, now);
}

SendOutcome GitHubClient::SendComment(const std::string& auth, const OutboxItem& item,
                                      const OutboxContent& c, absl::Time now) {
  const std::string repo = "/repos/" + item.repository;
  const std::string comments = absl::StrCat(repo, "/issues/", item.pr_number, "/comments");
  CommentApi api;
  api.list = [&](int page) {
    return Call(auth, "GET", absl::StrCat(comments, "?per_page=100&page=", page));
  };
  api.update = [&](const std::string& id, const std::string& body) {
    return Call(auth, "PATCH", absl::StrCat(repo, "/issues/comments/", id), body);
  };
  api.create = [&](const std::string& body) { return Call(auth, "POST", comments, body); };
  return UpsertComment(api, item.remote_id, c.text, c.marker, item.kind == kReply, item.attempts,
                       now);
}

}  // namespace perfgate::controller
