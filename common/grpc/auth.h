// Bearer-token authentication for gRPC services, and the secret files it reads.
//
// A token file holds one token a line ('#' starts a comment), so that a token can be rotated by
// listing the old and the new together. A line names who holds the token:
//   API tokens (--api-token-file):     NAME ROLE TOKEN   e.g. "ci submitter 3f9c…"
//   agent tokens (--agent-token-file): NAME TOKEN        e.g. "bench-07 81d2…"
// NAME is recorded as the actor of what the caller does (API) or is the agent the caller may act
// as (agents). A line with the token alone is still read for compatibility: an API token then
// is "token" with the admin role, an agent token binds to no agent name (any agent may use it).
// With no file, every caller is accepted as an unnamed admin. Secret files must not be readable
// by group or others (the loader refuses them, as ssh does). The file is followed: when it
// changes (looked at no more than once a second) it is read again, so tokens rotate without a
// restart; a changed file that is malformed keeps the last good tokens (logged). Copies share
// the file and what was read from it. Safe for concurrent use.
#pragma once

#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace perfgate::common {

// What an API caller may do; each role includes the ones before it.
enum class Role { kViewer = 0, kSubmitter = 1, kAdmin = 2 };
const char* RoleName(Role r);
// INVALID_ARGUMENT naming the roles for anything else.
absl::StatusOr<Role> ParseRole(absl::string_view s);

// Who made a call. `name` is empty when nothing names the caller (no token file, or a token
// line without a name).
struct Principal {
  std::string name;
  Role role = Role::kAdmin;
  bool authenticated = false;  // a token was checked (false: authentication is off)
};

class TokenAuth {
 public:
  enum class Kind { kApi, kAgent };
  // Accepts everyone.
  TokenAuth() = default;
  // NOT_FOUND if the file cannot be read; INVALID_ARGUMENT (with the line) for a malformed line,
  // a duplicate name or token, an empty file, or a file group or others can read.
  static absl::StatusOr<TokenAuth> FromFile(const std::string& path, Kind kind);

  bool enabled() const { return source_ != nullptr; }
  // Whether every token names its holder (agents: whether calls can be bound to agent names).
  bool all_named() const;
  // UNAUTHENTICATED unless the call carries "authorization: Bearer <one of the tokens>".
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& ctx) const;
  // The holder of `token` (UNAUTHENTICATED if it is none of the file's).
  absl::StatusOr<Principal> AuthenticateToken(absl::string_view token) const;

  // A login session for the pages, without the token in it: "NAME.EXPIRY.MAC" where MAC is
  // HMAC-SHA256(token, "NAME.EXPIRY"). Every replica reading the same file accepts it; removing
  // the token from the file ends its sessions. `token` must be one of the file's.
  absl::StatusOr<std::string> IssueSession(absl::string_view token, int64_t expires_unix) const;
  absl::StatusOr<Principal> AuthenticateSession(absl::string_view session, int64_t now_unix) const;

 private:
  struct Entry {
    std::string name, token;
    Role role = Role::kAdmin;
  };
  using Entries = std::vector<Entry>;
  struct Source;  // the file, what was last read from it, and when it was last looked at
  static absl::StatusOr<Entries> Parse(const std::string& path, Kind kind);
  // The tokens now (re-read first when the file changed).
  std::shared_ptr<const Entries> Current() const;
  std::shared_ptr<Source> source_;
};

// INVALID_ARGUMENT naming `flag` when group or others may read `path` (a key or token file);
// NOT_FOUND when it does not exist.
absl::Status CheckSecretFileMode(absl::string_view flag, const std::string& path);

// Reads a client's token file: its first token (a line's last word), after CheckSecretFileMode.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace perfgate::common
