#include "common/grpc/auth.h"

#include <sys/stat.h>

#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/hash/sha256.h"
#include "spdlog/spdlog.h"

namespace perfgate::common {
namespace {

// Constant-time comparison: a timing side channel must not reveal a token's prefix.
bool SameToken(const std::string& a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The file's token lines, each split into its words; comments and blank lines dropped.
absl::StatusOr<std::vector<std::pair<int, std::vector<std::string>>>> ReadTokenLines(
    absl::string_view flag, const std::string& path) {
  if (auto s = CheckSecretFileMode(flag, path); !s.ok()) return s;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": ", path, ": cannot be read"));
  std::vector<std::pair<int, std::vector<std::string>>> lines;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    absl::string_view t = absl::StripAsciiWhitespace(line);
    if (t.empty() || t[0] == '#') continue;
    lines.emplace_back(n, absl::StrSplit(t, absl::ByAnyChar(" \t"), absl::SkipEmpty()));
  }
  if (lines.empty())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, ": holds no token"));
  return lines;
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kSubmitter:
      return "submitter";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

absl::StatusOr<Role> ParseRole(absl::string_view s) {
  for (Role r : {Role::kViewer, Role::kSubmitter, Role::kAdmin})
    if (s == RoleName(r)) return r;
  return absl::InvalidArgumentError(
      absl::StrCat("role '", s, "': want viewer, submitter or admin"));
}

absl::Status CheckSecretFileMode(absl::string_view flag, const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat(flag, ": ", path, ": cannot be read"));
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s is readable by group or others (mode %03o): a secret file must "
                        "be readable by its owner only (chmod 600)",
                        std::string(flag), path, st.st_mode & 0777));
  }
  return absl::OkStatus();
}

struct TokenAuth::Source {
  std::string path;
  Kind kind;
  absl::Mutex mu;
  std::shared_ptr<const Entries> entries ABSL_GUARDED_BY(mu);
  std::string version ABSL_GUARDED_BY(mu);  // what stat said when `entries` were read
  std::string refused ABSL_GUARDED_BY(mu);  // the version last refused (logged once)
  absl::Time next_look ABSL_GUARDED_BY(mu);
};

namespace {
// Changes when the file is replaced or rewritten: inode, size, modification time (ns).
std::string FileVersion(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}
}  // namespace

absl::StatusOr<TokenAuth> TokenAuth::FromFile(const std::string& path, Kind kind) {
  const std::string version = FileVersion(path);
  auto entries = Parse(path, kind);
  if (!entries.ok()) return entries.status();
  TokenAuth auth;
  auth.source_ = std::make_shared<Source>();
  auth.source_->path = path;
  auth.source_->kind = kind;
  absl::MutexLock lock(&auth.source_->mu);
  auth.source_->entries = std::make_shared<const Entries>(*std::move(entries));
  auth.source_->version = version;
  auth.source_->next_look = absl::Now() + absl::Seconds(1);
  return auth;
}

std::shared_ptr<const TokenAuth::Entries> TokenAuth::Current() const {
  if (!source_) return std::make_shared<const Entries>();
  Source& s = *source_;
  absl::MutexLock lock(&s.mu);
  const absl::Time now = absl::Now();
  if (now < s.next_look) return s.entries;
  s.next_look = now + absl::Seconds(1);
  const std::string version = FileVersion(s.path);
  if (version == s.version || version == s.refused) return s.entries;
  auto entries = Parse(s.path, s.kind);
  if (!entries.ok()) {
    s.refused = version;
    spdlog::warn("msg=\"token file changed but is refused; the previous tokens stay\" error=\"{}\"",
                 std::string(entries.status().message()));
    return s.entries;
  }
  spdlog::info("msg=\"token file re-read\" path={} tokens={}", s.path, entries->size());
  s.entries = std::make_shared<const Entries>(*std::move(entries));
  s.version = version;
  return s.entries;
}

absl::StatusOr<TokenAuth::Entries> TokenAuth::Parse(const std::string& path, Kind kind) {
  const char* flag = kind == Kind::kApi ? "--api-token-file" : "--agent-token-file";
  auto lines = ReadTokenLines(flag, path);
  if (!lines.ok()) return lines.status();
  Entries out;
  std::set<std::string> names, tokens;
  for (const auto& [n, words] : *lines) {
    auto bad = [&, n = n](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, ":", n, ": ", why));
    };
    Entry e;
    if (words.size() == 1) {
      e.token = words[0];
      if (kind == Kind::kApi) e.name = "token";
    } else if (kind == Kind::kApi && words.size() == 3) {
      auto role = ParseRole(words[1]);
      if (!role.ok()) return bad(role.status().message());
      e = Entry{words[0], words[2], *role};
    } else if (kind == Kind::kAgent && words.size() == 2) {
      e.name = words[0];
      e.token = words[1];
    } else {
      return bad(kind == Kind::kApi ? "want NAME ROLE TOKEN" : "want NAME TOKEN");
    }
    if (e.token.size() < 16) return bad("a token must be at least 16 characters");
    if (!tokens.insert(e.token).second) return bad("the same token is listed twice");
    // An agent may hold two tokens (rotation); an API name is one actor with one role.
    if (kind == Kind::kApi && words.size() == 3 && !names.insert(e.name).second)
      return bad("name '" + e.name + "' is listed twice");
    out.push_back(std::move(e));
  }
  return out;
}

bool TokenAuth::all_named() const {
  for (const Entry& e : *Current())
    if (e.name.empty()) return false;
  return true;
}

absl::StatusOr<Principal> TokenAuth::Authenticate(const grpc::ServerContextBase& ctx) const {
  if (!enabled()) return Principal{};
  auto it = ctx.client_metadata().find("authorization");
  if (it == ctx.client_metadata().end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  return AuthenticateToken(value);
}

absl::StatusOr<Principal> TokenAuth::AuthenticateToken(absl::string_view token) const {
  if (!enabled()) return Principal{};
  const auto entries = Current();
  // Every entry is compared, so the time taken does not say which one matched.
  const Entry* match = nullptr;
  for (const Entry& e : *entries)
    if (SameToken(e.token, token)) match = &e;
  if (match == nullptr) return absl::UnauthenticatedError("invalid token");
  return Principal{match->name, match->role, true};
}

absl::StatusOr<std::string> TokenAuth::IssueSession(absl::string_view token,
                                                    int64_t expires_unix) const {
  for (const Entry& e : *Current()) {
    if (!SameToken(e.token, token)) continue;
    const std::string signed_part = absl::StrCat(e.name, ".", expires_unix);
    return absl::StrCat(signed_part, ".", HmacSha256Hex(e.token, signed_part));
  }
  return absl::UnauthenticatedError("invalid token");
}

absl::StatusOr<Principal> TokenAuth::AuthenticateSession(absl::string_view session,
                                                         int64_t now_unix) const {
  // NAME may itself hold dots: the expiry and the MAC are the last two fields.
  const size_t mac_dot = session.rfind('.');
  if (mac_dot == absl::string_view::npos || mac_dot == 0)
    return absl::UnauthenticatedError("malformed session");
  const size_t exp_dot = session.rfind('.', mac_dot - 1);
  int64_t expires = 0;
  if (exp_dot == absl::string_view::npos ||
      !absl::SimpleAtoi(session.substr(exp_dot + 1, mac_dot - exp_dot - 1), &expires))
    return absl::UnauthenticatedError("malformed session");
  if (expires < now_unix) return absl::UnauthenticatedError("session expired: log in again");
  const absl::string_view name = session.substr(0, exp_dot);
  const absl::string_view signed_part = session.substr(0, mac_dot);
  const absl::string_view mac = session.substr(mac_dot + 1);
  // A named holder may have two tokens (rotation): any of them may have signed it.
  const auto entries = Current();
  for (const Entry& e : *entries) {
    if (e.name != name) continue;
    if (SameToken(HmacSha256Hex(e.token, std::string_view(signed_part.data(), signed_part.size())),
                  mac))
      return Principal{e.name, e.role, true};
  }
  return absl::UnauthenticatedError("invalid session");
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto lines = ReadTokenLines("--token-file", path);
  if (!lines.ok()) return lines.status();
  return lines->front().second.back();
}

}  // namespace perfgate::common
