#include "common/stats/summary.h"

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

// Reference values from R 4.x: quantile(x, type = 7), sd(x).
TEST(SummaryTest, MatchesRType7Quantiles) {
  Summary s = Summarize({7, 1, 3, 9, 4, 8, 2, 6, 5, 10});
  EXPECT_EQ(s.n, 10);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.q1, 3.25);
  EXPECT_DOUBLE_EQ(s.q3, 7.75);
  EXPECT_DOUBLE_EQ(s.iqr, 4.5);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.stddev, 3.0276503540974917, 1e-12);  // sd(1:10)
  EXPECT_NEAR(s.cv, 3.0276503540974917 / 5.5, 1e-12);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 10);
}

TEST(SummaryTest, OddSampleMedianIsTheMiddleValue) {
  Summary s = Summarize({12.5, 10.0, 11.0});
  EXPECT_DOUBLE_EQ(s.median, 11.0);
  EXPECT_DOUBLE_EQ(s.q1, 10.5);
  EXPECT_DOUBLE_EQ(s.q3, 11.75);
}

TEST(SummaryTest, DegenerateSamples) {
  Summary empty = Summarize({});
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.median, 0);
  Summary one = Summarize({4});
  EXPECT_EQ(one.median, 4);
  EXPECT_EQ(one.stddev, 0);
  EXPECT_EQ(one.cv, 0);
  Summary zeros = Summarize({0, 0, 0});
  EXPECT_EQ(zeros.cv, 0);  // undefined, reported as 0
}

}  // namespace
}  // namespace perfgate::common
