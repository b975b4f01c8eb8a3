// Cron expressions (common/time/cron.h): the next matching minute, and bad fields named.
#include "common/time/cron.h"

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

std::string Next(const std::string& expr, const std::string& after) {
  auto c = CronSchedule::Parse(expr);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M %a", c->Next(At(after)), absl::UTCTimeZone());
}

TEST(CronTest, NextIsTheFirstMatchingMinuteStrictlyAfter) {
  EXPECT_EQ(Next("0 2 * * *", "2026-12-04T01:59:59Z"), "2026-12-04 02:00 Fri");
  EXPECT_EQ(Next("0 2 * * *", "2026-12-04T02:00:00Z"), "2026-12-05 02:00 Sat");  // strictly after
  EXPECT_EQ(Next("* * * * *", "2026-12-04T02:00:30Z"), "2026-12-04 02:01 Fri");
  EXPECT_EQ(Next("*/15 * * * *", "2026-12-04T02:16:00Z"), "2026-12-04 02:30 Fri");
  EXPECT_EQ(Next("5/20 9-17 * * *", "2026-12-04T17:46:00Z"), "2026-12-05 09:05 Sat");
  EXPECT_EQ(Next("30 3 * * 1-5", "2026-12-04T04:00:00Z"), "2026-12-07 03:30 Mon");  // Fri -> Mon
  EXPECT_EQ(Next("0 0 * * 7", "2026-12-04T00:00:00Z"), "2026-12-06 00:00 Sun");     // 7 is Sunday
  EXPECT_EQ(Next("0 0 1 1,7 *", "2026-12-04T00:00:00Z"), "2027-01-01 00:00 Fri");
  EXPECT_EQ(Next("0 0 29 2 *", "2026-12-04T00:00:00Z"), "2028-02-29 00:00 Tue");
  // Both day fields restricted: either one (the 13th, or any Friday).
  EXPECT_EQ(Next("0 12 13 * 5", "2026-12-04T13:00:00Z"), "2026-12-11 12:00 Fri");
  EXPECT_EQ(Next("0 12 13 * 5", "2026-12-11T13:00:00Z"), "2026-12-13 12:00 Sun");
  auto never = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->Next(At("2026-12-04T00:00:00Z")), absl::InfiniteFuture());
}

TEST(CronTest, BadExpressionsNameTheField) {
  for (auto [expr, want] : std::vector<std::pair<std::string, std::string>>{
           {"0 2 * *",
            "cron: want five fields (minute hour day-of-month month day-of-week), got 4"},
           {"0 24 * * *", "hour: 24 is out of range 0-23"},
           {"60 * * * *", "minute: 60 is out of range 0-59"},
           {"* * 0 * *", "day of month: 0 is out of range 1-31"},
           {"* * * 13 *", "month: 13 is out of range 1-12"},
           {"* * * * 8", "day of week: 8 is out of range 0-7"},
           {"*/0 * * * *", "minute: step '0' must be from 1 to 59"},
           {"5-1 * * * *", "minute: range 5-1 runs backwards"},
           {"1,,2 * * * *", "minute: an empty list item"},
           {"x * * * *", "minute: 'x' is not a number"},
       }) {
    auto c = CronSchedule::Parse(expr);
    ASSERT_FALSE(c.ok()) << expr;
    EXPECT_NE(c.status().message().find(want), std::string::npos)
        << expr << ": " << c.status().message();
  }
}

}  // namespace
}  // namespace perfgate::common
