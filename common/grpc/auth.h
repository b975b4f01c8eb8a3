// Bearer-token authentication for gRPC services. Tokens come from a file (one per line, so
// that a token can be rotated by listing old and new together). With no file, every caller is
// accepted. Safe for concurrent use once loaded.
#pragma once

#include <grpcpp/server_context.h>

#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace perfgate::common {

class TokenAuth {
 public:
  // Accepts everyone.
  TokenAuth() = default;
  // NOT_FOUND if the file cannot be read, INVALID_ARGUMENT if it holds no token.
  static absl::StatusOr<TokenAuth> FromFile(const std::string& path);

  bool enabled() const { return !tokens_.empty(); }
  // UNAUTHENTICATED unless the call carries "authorization: Bearer <one of the tokens>".
  absl::Status Check(const grpc::ServerContextBase& ctx) const;

 private:
  std::set<std::string> tokens_;
};

// Reads a token file's first non-empty line (client side).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace perfgate::common
