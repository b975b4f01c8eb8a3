// The comparison statistics against reference values computed independently: R's documented
// wilcox.test example (Hollander & Wolfe), SciPy 1.10's mannwhitneyu for the tie and large-sample
// paths, Benjamini & Hochberg's (1995) own worked example.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/stats/bootstrap.h"
#include "common/stats/mann_whitney.h"
#include "common/stats/multiple_testing.h"
#include "common/stats/verdict.h"

namespace perfgate::common {
namespace {

TEST(MannWhitneyTest, HollanderWolfeExampleFromRsDocumentation) {
  // ?wilcox.test: "W = 35, p-value = 0.1272" one-sided; two-sided is twice that.
  const std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  const MannWhitneyResult r = MannWhitneyU(x, y);
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 35);
  EXPECT_NEAR(r.p, 0.2544122544122544, 1e-12);
  // Symmetric: swapping the samples gives U' = mn - U and the same p.
  const MannWhitneyResult s = MannWhitneyU(y, x);
  EXPECT_DOUBLE_EQ(s.u, 15);
  EXPECT_NEAR(s.p, r.p, 1e-12);
}

TEST(MannWhitneyTest, ExactTailsOfSeparatedSamples) {
  // Complete separation: p = 2 / C(m + n, m).
  std::vector<double> a, b;
  for (int i = 0; i < 9; ++i) {
    a.push_back(i);
    b.push_back(10 + i);
  }
  EXPECT_NEAR(MannWhitneyU(a, b).p, 4.113533525298231e-05, 1e-15);
  EXPECT_NEAR(MannWhitneyU({0, 1, 2, 3, 4, 5}, {10, 11, 12, 13, 14, 15}).p, 0.0021645021645021645,
              1e-15);
  // One inversion (SciPy: 8.227067050596462e-05).
  EXPECT_NEAR(MannWhitneyU({1, 2, 3, 4, 5, 6, 7, 8, 10}, {9, 11, 12, 13, 14, 15, 16, 17, 18}).p,
              8.227067050596462e-05, 1e-15);
  // The exact distribution sums to 1 and is symmetric around mn / 2.
  EXPECT_DOUBLE_EQ(MannWhitneyExactCdf(7, 5, 35), 1);
  EXPECT_NEAR(MannWhitneyExactCdf(7, 5, 17), 1 - MannWhitneyExactCdf(7, 5, 17), 1e-12);
}

TEST(MannWhitneyTest, TiesUseTheCorrectedNormalApproximation) {
  const MannWhitneyResult r =
      MannWhitneyU({1, 2, 2, 3, 4, 5, 5, 6, 7}, {3, 4, 4, 5, 6, 7, 8, 8, 9});
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 19.5);
  EXPECT_NEAR(r.p, 0.0683851468073479, 1e-12);  // SciPy, asymptotic, continuity corrected
  // Every value tied: no evidence.
  EXPECT_DOUBLE_EQ(MannWhitneyU({1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}).p, 1);
}

TEST(MannWhitneyTest, LargeSamplesUseTheNormalApproximation) {
  const std::vector<double> x = {
      0.346,  0.822,  0.33,   -1.303, 0.905,  0.446,  -0.537, 0.581,  0.365,  0.294,
      0.028,  0.547,  -0.736, -0.163, -0.482, 0.599,  0.04,   -0.292, -0.782, -0.257,
      0.008,  -0.276, 1.294,  1.007,  -2.711, -1.889, -0.175, -0.422, 0.214,  0.217,
      2.118,  -1.112, -0.378, 2.043,  0.647,  0.663,  -0.514, -1.648, 0.167,  0.109,
      -1.227, -0.683, -0.072, -0.945, -0.098, 0.095,  0.036,  -0.506, 0.594,  0.891,
      0.321,  -0.818, 0.732,  -0.501, 0.879,  -1.072, 0.914,  -0.02,  -1.249, -0.314};
  const std::vector<double> y = {
      0.554,  0.773,  -0.482, -0.607, 0.7,   0.033,  0.736,  1.26,   -1.149, 0.754, 1.725,
      0.202,  -0.311, 1.252,  0.753,  1.396, 0.155,  -0.982, 0.39,   0.054,  1.275, 0.694,
      -1.131, -0.695, 1.384,  1.18,   -0.14, 0.499,  0.946,  0.968,  1.376,  0.756, 0.405,
      0.241,  1.556,  -1.751, 0.361,  0.533, -0.925, 0.833,  -0.151, 1.362,  0.374, 1.169,
      1.719,  0.883,  -0.376, -1.014, 2.253, 0.389,  -0.189, 0.644,  0.309,  1.352, 0.534};
  const MannWhitneyResult r = MannWhitneyU(x, y);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 1069.5);
  EXPECT_NEAR(r.p, 0.001164715525655858, 1e-9);
}

TEST(BenjaminiHochbergTest, PapersWorkedExample) {
  // Benjamini & Hochberg (1995), section 4.1: at q = 0.05 the four smallest are rejected.
  const std::vector<double> p = {0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
                                 0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000};
  const std::vector<double> adj = BenjaminiHochberg(p);
  int rejected = 0;
  for (double a : adj) rejected += a <= 0.05;
  EXPECT_EQ(rejected, 4);
  EXPECT_NEAR(adj[0], 0.0015, 1e-12);           // 0.0001 * 15 / 1
  EXPECT_NEAR(adj[3], 0.0095 * 15 / 4, 1e-12);  // 0.035625
  EXPECT_NEAR(adj[4], 0.0201 * 15 / 5, 1e-12);  // 0.0603
  EXPECT_NEAR(adj[5], 0.0298 * 15 / 7, 1e-12);  // monotone: the minimum from above
  EXPECT_DOUBLE_EQ(adj[14], 1);
  // Order of input does not matter.
  const std::vector<double> rev(p.rbegin(), p.rend());
  EXPECT_NEAR(BenjaminiHochberg(rev)[14], adj[0], 1e-15);
}

TEST(BootstrapTest, RatioOfMediansWithItsInterval) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> base(100, 2), cand(110, 2);
  std::vector<double> b, c;
  for (int i = 0; i < 9; ++i) {
    b.push_back(base(rng));
    c.push_back(cand(rng));
  }
  const RatioInterval r = BootstrapRatio(b, c);
  EXPECT_GT(r.low, 1.05);
  EXPECT_LT(r.high, 1.17);
  EXPECT_LE(r.low, r.estimate);
  EXPECT_GE(r.high, r.estimate);
  // Deterministic: the same samples give the same interval.
  const RatioInterval again = BootstrapRatio(b, c);
  EXPECT_DOUBLE_EQ(again.low, r.low);
  EXPECT_DOUBLE_EQ(again.high, r.high);
  // Same distribution: the interval covers 1.
  const RatioInterval same = BootstrapRatio(b, b);
  EXPECT_DOUBLE_EQ(same.estimate, 1);
  EXPECT_LE(same.low, 1);
  EXPECT_GE(same.high, 1);
}

std::vector<double> Sample(double mean, double cv, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, mean * cv);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(d(rng));
  return v;
}

TEST(VerdictTest, RegressionImprovementAndNoChangeByDirection) {
  std::vector<MetricSamples> m(4);
  m[0] = {"latency.p99", true, 0, Sample(10, 0.01, 9, 1), Sample(11, 0.01, 9, 2)};      // +10 %
  m[1] = {"throughput", false, 0, Sample(1000, 0.01, 9, 3), Sample(1100, 0.01, 9, 4)};  // +10 %
  m[2] = {"rss", true, 0, Sample(50, 0.01, 9, 5), Sample(50, 0.01, 9, 6)};              // same
  m[3] = {"cpu", false, 0, Sample(1, 0.01, 9, 7), Sample(0.9, 0.01, 9, 8)};             // -10 %
  const auto v = JudgeMetrics(m);
  EXPECT_EQ(v[0].verdict, Verdict::kRegression) << v[0].reason;
  EXPECT_EQ(v[1].verdict, Verdict::kImprovement) << v[1].reason;
  EXPECT_EQ(v[2].verdict, Verdict::kNoChange) << v[2].reason;
  EXPECT_EQ(v[3].verdict, Verdict::kRegression) << v[3].reason;
  EXPECT_NEAR(v[0].ratio.estimate, 1.1, 0.02);
  EXPECT_LT(v[0].ratio.low, v[0].ratio.estimate);
  EXPECT_GT(v[0].ratio.high, v[0].ratio.estimate);
  EXPECT_DOUBLE_EQ(v[0].floor, 0.03);
}

TEST(VerdictTest, FewRepetitionsAreInconclusiveNeverAGuess) {
  std::vector<MetricSamples> m = {{"x", true, 0, Sample(10, 0.01, 5, 1), Sample(20, 0.01, 9, 2)}};
  const auto v = JudgeMetrics(m);
  EXPECT_EQ(v[0].verdict, Verdict::kInconclusive);
  EXPECT_FALSE(v[0].tested);
  EXPECT_NE(v[0].reason.find("fewer than 6"), std::string::npos) << v[0].reason;
}

TEST(VerdictTest, SmallSignificantShiftsStayWithinTheFloor) {
  // A real 1 % shift with very low noise is significant but immaterial.
  std::vector<MetricSamples> m = {
      {"x", true, 0, Sample(100, 0.001, 9, 1), Sample(101, 0.001, 9, 2)}};
  const auto v = JudgeMetrics(m);
  EXPECT_LT(v[0].p, 0.01);
  EXPECT_EQ(v[0].verdict, Verdict::kNoChange) << v[0].reason;
}

TEST(VerdictTest, NoiseWidensTheFloor) {
  // 8 % worse, significant, but the metric's usual noise CV is 5 %: floor 10 %.
  std::vector<MetricSamples> m = {
      {"x", true, 0.05, Sample(100, 0.005, 9, 1), Sample(108, 0.005, 9, 2)}};
  const auto v = JudgeMetrics(m);
  EXPECT_DOUBLE_EQ(v[0].floor, 0.10);
  EXPECT_EQ(v[0].verdict, Verdict::kNoChange) << v[0].reason;
}

TEST(VerdictTest, MaterialButUnconfirmedShiftIsInconclusive) {
  // Medians 10 % apart but the samples overlap heavily.
  std::vector<MetricSamples> m = {{"x",
                                   true,
                                   0,
                                   {90, 100, 110, 95, 105, 100, 85, 115, 100},
                                   {95, 110, 120, 100, 112, 108, 90, 125, 110}}};
  const auto v = JudgeMetrics(m);
  EXPECT_GT(v[0].p, 0.01);
  EXPECT_EQ(v[0].verdict, Verdict::kInconclusive) << v[0].reason;
}

TEST(VerdictTest, RunToRunNoiseIsAMarginAroundTheFloor) {
  // A clear 6 % shift (tight repetitions, p far below alpha) with runs that differ by a CV of
  // 1 %: margin 1.96 x 1 % x sqrt(1/1 + 1/1) = 2.77 %, so 6 % - 2.77 % clears the 3 % floor.
  MetricSamples m{"x", true, 0, Sample(100, 0.001, 9, 1), Sample(106, 0.001, 9, 2), 0.01};
  auto v = JudgeMetrics({m});
  EXPECT_NEAR(v[0].margin, 1.96 * 0.01 * std::sqrt(2.0), 1e-12);
  EXPECT_EQ(v[0].verdict, Verdict::kRegression) << v[0].reason;
  EXPECT_NE(v[0].reason.find("runs differ by +-2.8 %"), std::string::npos) << v[0].reason;
  // 4 %: past the floor, but by less than the margin: inconclusive, though p is tiny.
  m.candidate = Sample(104, 0.001, 9, 2);
  v = JudgeMetrics({m});
  EXPECT_LT(v[0].p, 0.001);
  EXPECT_EQ(v[0].verdict, Verdict::kInconclusive) << v[0].reason;
  // Pooling four baseline runs narrows it: sqrt(1/4 + 1) x 1.96 % = 2.19 %, still too close.
  m.baseline_runs = 4;
  v = JudgeMetrics({m});
  EXPECT_NEAR(v[0].margin, 1.96 * 0.01 * std::sqrt(1.25), 1e-12);
  EXPECT_EQ(v[0].verdict, Verdict::kInconclusive) << v[0].reason;
  // 0.2 %: below the floor by more than the margin: no change.
  m.candidate = Sample(100.2, 0.001, 9, 2);
  v = JudgeMetrics({m});
  EXPECT_EQ(v[0].verdict, Verdict::kNoChange) << v[0].reason;
  // 2 %: below the floor, but a run could hide a real 3 %: inconclusive.
  m.candidate = Sample(102, 0.001, 9, 2);
  v = JudgeMetrics({m});
  EXPECT_EQ(v[0].verdict, Verdict::kInconclusive) << v[0].reason;
  // Unknown run-to-run noise: margin 0, the plain rules (2 % is significant but immaterial).
  m.run_noise_cv = 0;
  v = JudgeMetrics({m});
  EXPECT_DOUBLE_EQ(v[0].margin, 0);
  EXPECT_EQ(v[0].verdict, Verdict::kNoChange) << v[0].reason;
}

TEST(VerdictTest, TheMarginIsNoDemandToProveEquivalence) {
  // A maximum: 20 % noise within a run and 13 % from run to run (floor 40 %, margin 36 %). A
  // +17 % that the test does not find significant is no change, as without a margin; else no
  // single run of such a metric could ever be called unchanged.
  MetricSamples m{"x.max", true, 0.2, Sample(3.0, 0.2, 9, 11), Sample(3.5, 0.2, 9, 12), 0.13};
  const auto v = JudgeMetrics({m});
  ASSERT_GT(v[0].p, 0.01) << "the constructed samples must not separate";
  EXPECT_DOUBLE_EQ(v[0].floor, 0.4);
  EXPECT_GT(v[0].margin, 0.35);
  EXPECT_EQ(v[0].verdict, Verdict::kNoChange) << v[0].reason;
}

TEST(VerdictTest, BenjaminiHochbergAppliesAcrossMetrics) {
  // One metric at p = 8/924 = 0.0087 (exact, 6 vs 6 with 2 inversions) passes alpha on its own, but
  // among 10 metrics whose others show nothing its adjusted p is far above q.
  std::vector<MetricSamples> m;
  m.push_back({"moved", true, 0, {1, 2, 3, 4, 5.5, 6}, {5, 7, 8, 9, 10, 11}});
  for (int i = 0; i < 9; ++i) {
    m.push_back(
        {"flat" + std::to_string(i), true, 0, {1, 2, 3, 4, 5, 6}, {1.5, 2.5, 3.5, 4.5, 5.5, 6.5}});
  }
  const auto v = JudgeMetrics(m);
  EXPECT_NEAR(v[0].p, 8.0 / 924, 1e-12);
  EXPECT_GT(v[0].p_adjusted, 0.05);
  EXPECT_NE(v[0].verdict, Verdict::kRegression) << v[0].reason;
  // Alone, it is a regression.
  const auto alone = JudgeMetrics({m[0]});
  EXPECT_EQ(alone[0].verdict, Verdict::kRegression) << alone[0].reason;
}

}  // namespace
}  // namespace perfgate::common
