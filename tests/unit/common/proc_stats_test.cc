#include "common/process/proc_stats.h"

#include <unistd.h>

#include <vector>

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

TEST(ProcStatsTest, SeesOwnMemoryAndCpuGrow) {
  auto before = ReadProcStats(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->rss_bytes, 0);
  EXPECT_GE(before->peak_rss_bytes, before->rss_bytes);
  std::vector<char> block(64 << 20, 1);  // touched: resident
  volatile uint64_t x = 0;
  for (uint64_t i = 0; i < 300'000'000; ++i) x = x + i * block[i % block.size()];
  auto after = ReadProcStats(getpid());
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->rss_bytes - before->rss_bytes, 60 << 20);
  EXPECT_GT(after->cpu_seconds, before->cpu_seconds);
}

TEST(ProcStatsTest, GoneProcessIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ReadProcStats(999'999'999).status()));
}

}  // namespace
}  // namespace perfgate::common
