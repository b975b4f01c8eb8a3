#include "common/grpc/auth.h"

#include <sys/stat.h>

#include <fstream>

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/perfgate-auth-XXXXXX";
  return mkdtemp(tmpl);
}

std::string Secret(const std::string& dir, const std::string& name, const std::string& text,
                   mode_t mode = 0600) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(TokenAuthTest, ApiLinesNameAHolderAndARole) {
  std::string dir = TempDir();
  auto auth = TokenAuth::FromFile(
      Secret(dir, "api",
             "# comment\n\nci submitter 0123456789abcdef\nops admin fedcba9876543210\n"),
      TokenAuth::Kind::kApi);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->enabled());
  EXPECT_TRUE(auth->all_named());
  // A bare token is the old format: an admin named "token".
  auto old = TokenAuth::FromFile(Secret(dir, "old", "0123456789abcdef\n"), TokenAuth::Kind::kApi);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_TRUE(old->all_named());
  EXPECT_FALSE(TokenAuth().enabled());
}

TEST(TokenAuthTest, AgentLinesNameTheAgent) {
  std::string dir = TempDir();
  auto named =
      TokenAuth::FromFile(Secret(dir, "a", "bench-1 0123456789abcdef\nbench-1 0123456789abcdeX\n"),
                          TokenAuth::Kind::kAgent);
  ASSERT_TRUE(named.ok()) << named.status() << " (an agent may hold two tokens while rotating)";
  EXPECT_TRUE(named->all_named());
  auto shared =
      TokenAuth::FromFile(Secret(dir, "s", "0123456789abcdef\n"), TokenAuth::Kind::kAgent);
  ASSERT_TRUE(shared.ok());
  EXPECT_FALSE(shared->all_named()) << "a bare agent token binds to no agent";
}

TEST(TokenAuthTest, BadFilesAreRefusedWithTheLineAndTheReason) {
  std::string dir = TempDir();
  struct Case {
    std::string text;
    TokenAuth::Kind kind;
    std::string error;
  };
  const Case cases[] = {
      {"ci submitter\n", TokenAuth::Kind::kApi, "api:1: want NAME ROLE TOKEN"},
      {"ci owner 0123456789abcdef\n", TokenAuth::Kind::kApi,
       "api:1: role 'owner': want viewer, submitter or admin"},
      {"# x\nci viewer short\n", TokenAuth::Kind::kApi, "api:2: a token must be at least 16"},
      {"a viewer 0123456789abcdef\nb admin 0123456789abcdef\n", TokenAuth::Kind::kApi,
       "api:2: the same token is listed twice"},
      {"a viewer 0123456789abcdef\na admin 0123456789abcdeX\n", TokenAuth::Kind::kApi,
       "api:2: name 'a' is listed twice"},
      {"a b 0123456789abcdef\n", TokenAuth::Kind::kAgent, "api:1: want NAME TOKEN"},
      {"# only a comment\n", TokenAuth::Kind::kApi, "holds no token"},
  };
  for (const Case& c : cases) {
    std::string path = Secret(dir, "api", c.text);
    auto r = TokenAuth::FromFile(path, c.kind);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << r.status();
  }
  EXPECT_TRUE(
      absl::IsNotFound(TokenAuth::FromFile(dir + "/missing", TokenAuth::Kind::kApi).status()));
}

TEST(TokenAuthTest, SecretFilesOthersCanReadAreRefused) {
  std::string dir = TempDir();
  for (mode_t mode : {0644, 0640, 0604}) {
    std::string path = Secret(dir, "t", "ci viewer 0123456789abcdef\n", mode);
    auto r = TokenAuth::FromFile(path, TokenAuth::Kind::kApi);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_NE(r.status().message().find("readable by group or others"), std::string::npos);
    EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos);
    EXPECT_FALSE(ReadTokenFile(path).ok());
  }
  std::string ok = Secret(dir, "t", "ci viewer 0123456789abcdef\n", 0400);
  auto token = ReadTokenFile(ok);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "0123456789abcdef") << "a client reads a line's last word";
}

TEST(RoleTest, RolesParseAndOrder) {
  EXPECT_EQ(*ParseRole("viewer"), Role::kViewer);
  EXPECT_EQ(*ParseRole("admin"), Role::kAdmin);
  EXPECT_FALSE(ParseRole("root").ok());
  EXPECT_LT(Role::kViewer, Role::kSubmitter);
  EXPECT_LT(Role::kSubmitter, Role::kAdmin);
  EXPECT_STREQ(RoleName(Role::kSubmitter), "submitter");
}

}  // namespace
}  // namespace perfgate::common
