#include "common/grpc/auth.h"

#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

TEST(TokenAuthTest, LoadsTokensAndRejectsEmptyFiles) {
  std::string path = ::testing::TempDir() + "/tokens-" + std::to_string(getpid());
  { std::ofstream(path) << "# comment\n\n  old-token  \nnew-token\n"; }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->enabled());
  auto first = ReadTokenFile(path);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "old-token");
  { std::ofstream(path) << "# nothing\n"; }
  EXPECT_TRUE(absl::IsInvalidArgument(TokenAuth::FromFile(path).status()));
  EXPECT_TRUE(absl::IsNotFound(TokenAuth::FromFile(path + ".missing").status()));
  EXPECT_FALSE(TokenAuth().enabled());
}

}  // namespace
}  // namespace perfgate::common
