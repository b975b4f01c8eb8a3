// GitHub's REST API for the outbox: check runs (found again by name at the commit, then
// updated), commit statuses, the pull request comment (found again by its marker, then edited)
// and replies to commands. Authenticated as a GitHub App (a JWT signed RS256 with the app's
// private key, exchanged for installation tokens cached until 5 minutes before they expire) or
// with a token (a personal access token or any bearer token).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "controller/forge/forge_client.h"
#include "controller/forge/forge_http.h"

namespace perfgate::controller {

// "header.payload.signature" for the app: iat 60 s in the past (clock drift), exp 9 minutes on
// (GitHub allows 10). INVALID_ARGUMENT for a key OpenSSL cannot read as an RSA private key.
absl::StatusOr<std::string> GitHubAppJwt(const std::string& app_id, const std::string& key_pem,
                                         absl::Time now);

struct GitHubAuthConfig {
  std::string token;   // a personal access token (or a fixed installation token)
  std::string app_id;  // with private_key_pem: a GitHub App
  std::string private_key_pem;
};

class GitHubClient : public ForgeClient {
 public:
  GitHubClient(std::unique_ptr<ForgeHttp> http, GitHubAuthConfig auth)
      : http_(std::move(http)), auth_(std::move(auth)) {}
  SendOutcome Send(const OutboxItem& item, const OutboxContent& content, absl::Time now) override;

 private:
  // The Authorization header's value for an installation (the token, or a cached installation
  // token); a SendOutcome when it cannot be had.
  absl::StatusOr<std::string> Authorization(int64_t installation_id, SendOutcome* failed,
                                            int attempts, absl::Time now);
  HttpAnswer Call(const std::string& auth, const std::string& method, const std::string& path,
                  const std::string& body = "");
  SendOutcome SendCheckRun(const std::string& auth, const OutboxItem& item, const OutboxContent& c,
                           absl::Time now);
  SendOutcome SendStatus(const std::string& auth, const OutboxItem& item, const OutboxContent& c,
                         absl::Time now);
  SendOutcome SendComment(const std::string& auth, const OutboxItem& item, const OutboxContent& c,
                          absl::Time now);

  std::unique_ptr<ForgeHttp> http_;
  const GitHubAuthConfig auth_;
  std::mutex mu_;
  struct CachedToken {
    std::string token;
    absl::Time expires;
  };
  std::map<int64_t, CachedToken> tokens_;
};

}  // namespace perfgate::controller
