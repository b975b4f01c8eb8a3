// --http-auth: the pages and /metrics answer viewers and above only. A client proves it with
// its API token as "Authorization: Bearer TOKEN" (Prometheus: `authorization:
// credentials_file`) or with the session cookie /login sets (HttpOnly, SameSite=Strict; it
// carries the token's name, an expiry and an HMAC made with the token, never the token).
// /healthz and the webhook endpoints (/hooks/..., which check their own signatures) stay open.
#pragma once

#include <httplib.h>

#include "absl/time/time.h"
#include "common/grpc/auth.h"

namespace perfgate::controller {

class HttpAuth {
 public:
  // A copy of `tokens` shares its file (and follows it). `secure_cookie`: the port serves TLS,
  // so the login cookie is marked Secure (never sent over plain HTTP).
  explicit HttpAuth(common::TokenAuth tokens, bool secure_cookie = false,
                    absl::Duration session_ttl = absl::Hours(12))
      : tokens_(std::move(tokens)), secure_cookie_(secure_cookie), ttl_(session_ttl) {}
  // Adds /login (GET form, POST token), /logout, and the check before every other route.
  void Install(httplib::Server& server) const;
  // The check before routing (common::HttpServerOptions::pre_routing): true when it answered
  // the request (401 with the login page, or for /metrics a text error).
  bool Refuse(const httplib::Request& req, httplib::Response& res) const;

 private:
  const common::TokenAuth tokens_;
  const bool secure_cookie_;
  const absl::Duration ttl_;
};

}  // namespace perfgate::controller
