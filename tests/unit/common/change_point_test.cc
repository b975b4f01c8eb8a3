// E-Divisive means: the statistic against a brute-force computation of Matteson & James's
// definition (Python, from the paper's formula), and detection on constructed histories.
#include "common/stats/change_point.h"

#include <gtest/gtest.h>

#include <random>

namespace perfgate::common {
namespace {

TEST(EDivisiveTest, StatisticMatchesThePapersDefinition) {
  const std::vector<double> z = {1.0, 2.0, 1.5, 8.0, 9.0, 8.5, 7.0};
  EXPECT_NEAR(EDivisiveQ(z, 2), 9.285714285714286, 1e-12);
  EXPECT_NEAR(EDivisiveQ(z, 3), 19.71428571428571, 1e-12);
  EXPECT_NEAR(EDivisiveQ(z, 4), 9.428571428571427, 1e-12);
  EXPECT_NEAR(EDivisiveQ(z, 5), 3.285714285714287, 1e-12);
}

std::vector<double> Noise(int n, double mean, double sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(d(rng));
  return v;
}

TEST(EDivisiveTest, FindsAStepWhereItIs) {
  std::vector<double> z = Noise(30, 100, 1, 1);
  const std::vector<double> after = Noise(20, 105, 1, 2);
  z.insert(z.end(), after.begin(), after.end());
  const auto cps = EDivisive(z);
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].index, 30);
  EXPECT_LE(cps[0].p, 0.001);
  EXPECT_NEAR(cps[0].mean_before, 100, 1);
  EXPECT_NEAR(cps[0].mean_after, 105, 1);
}

TEST(EDivisiveTest, FindsTwoSteps) {
  std::vector<double> z = Noise(20, 10, 0.2, 3);
  for (double v : Noise(15, 12, 0.2, 4)) z.push_back(v);
  for (double v : Noise(15, 11, 0.2, 5)) z.push_back(v);
  const auto cps = EDivisive(z);
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(cps[0].index, 20);
  EXPECT_EQ(cps[1].index, 35);
}

TEST(EDivisiveTest, NothingInNoiseOrFlatOrShortHistories) {
  EXPECT_TRUE(EDivisive(Noise(50, 100, 3, 9)).empty());
  EXPECT_TRUE(EDivisive(std::vector<double>(40, 5.0)).empty());
  EXPECT_TRUE(EDivisive({1, 2, 10}).empty());
  // A single outlier is not a change in the mean of what follows.
  std::vector<double> z = Noise(40, 100, 1, 11);
  z[20] = 150;
  EXPECT_TRUE(EDivisive(z).empty());
}

}  // namespace
}  // namespace perfgate::common
