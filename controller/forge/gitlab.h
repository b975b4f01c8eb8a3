// GitLab's REST API (v4) for the outbox: commit statuses (pending, running, success, failed,
// canceled; name perfgate/SUITE) and the one merge request note, found again by its marker and
// edited in place; replies to commands as notes. Authenticated with an access token
// (PRIVATE-TOKEN). The base URL includes /api/v4.
#pragma once

#include <memory>
#include <string>

#include "controller/forge/forge_client.h"
#include "controller/forge/forge_http.h"

namespace perfgate::controller {

class GitLabClient : public ForgeClient {
 public:
  GitLabClient(std::unique_ptr<ForgeHttp> http, std::string token)
      : http_(std::move(http)), token_(std::move(token)) {}
  SendOutcome Send(const OutboxItem& item, const OutboxContent& content, absl::Time now) override;

 private:
  HttpAnswer Call(const std::string& method, const std::string& path, const std::string& body = "");
  std::unique_ptr<ForgeHttp> http_;
  const std::string token_;
};

}  // namespace perfgate::controller
