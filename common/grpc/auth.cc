#include "common/grpc/auth.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace perfgate::common {
namespace {

// Constant-time comparison: a timing side channel must not reveal a token's prefix.
bool SameToken(const std::string& a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::StatusOr<std::vector<std::string>> ReadTokens(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("token file " + path + ": cannot be read");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view t = absl::StripAsciiWhitespace(line);
    if (!t.empty() && t[0] != '#') tokens.emplace_back(t);
  }
  if (tokens.empty()) return absl::InvalidArgumentError("token file " + path + ": holds no token");
  return tokens;
}

}  // namespace

absl::StatusOr<TokenAuth> TokenAuth::FromFile(const std::string& path) {
  auto tokens = ReadTokens(path);
  if (!tokens.ok()) return tokens.status();
  TokenAuth auth;
  auth.tokens_.insert(tokens->begin(), tokens->end());
  return auth;
}

absl::Status TokenAuth::Check(const grpc::ServerContextBase& ctx) const {
  if (tokens_.empty()) return absl::OkStatus();
  auto it = ctx.client_metadata().find("authorization");
  if (it == ctx.client_metadata().end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  for (const auto& t : tokens_) {
    if (SameToken(t, value)) return absl::OkStatus();
  }
  return absl::UnauthenticatedError("invalid token");
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto tokens = ReadTokens(path);
  if (!tokens.ok()) return tokens.status();
  return tokens->front();
}

}  // namespace perfgate::common
