// The verdict on a candidate's metric against its baseline (ARCHITECTURE.md "Comparison and
// detection"): a two-sided Mann-Whitney U test on the repetitions at alpha, Benjamini-Hochberg
// across the metrics of one comparison at q, and an effect floor of
// max(min_effect, noise_factor x the metric's noise CV); the effect is the ratio of medians with
// a bootstrap confidence interval.
//
//   fewer than min_repetitions valid values on a side   -> inconclusive (never a guess)
//   significant (p <= alpha and BH-adjusted p <= q):
//     |ratio - 1| >= floor  -> regression or improvement, by the metric's direction
//     otherwise             -> no_change (a real but immaterial shift)
//   not significant:
//     |ratio - 1| >= floor  -> inconclusive (a material shift the test cannot confirm: the
//                              controller schedules a confirmation run)
//     otherwise             -> no_change
#pragma once

#include <string>
#include <vector>

#include "common/stats/bootstrap.h"

namespace perfgate::common {

enum class Verdict { kNoChange, kRegression, kImprovement, kInconclusive };

struct VerdictOptions {
  double alpha = 0.01;
  double fdr_q = 0.05;
  double min_effect = 0.03;
  double noise_factor = 2;
  int min_repetitions = 6;
  BootstrapOptions bootstrap;
};

struct MetricSamples {
  std::string name;
  bool lower_is_better = true;
  double noise_cv = 0;  // the metric's usual coefficient of variation on this machine class
  std::vector<double> baseline, candidate;
};

struct MetricVerdict {
  std::string name;
  Verdict verdict = Verdict::kInconclusive;
  std::string reason;  // one line saying why
  double baseline_median = 0, candidate_median = 0;
  RatioInterval ratio;     // candidate / baseline medians, with its CI
  bool has_ratio = false;  // false when the baseline median is 0
  double u = 0, p = 1, p_adjusted = 1;
  bool tested = false;  // enough repetitions to test
  double floor = 0;     // the effect floor used (fraction, 0.03 = 3 %)
};

// Verdicts for the metrics of one comparison, in input order. BH runs over the tested metrics.
std::vector<MetricVerdict> JudgeMetrics(const std::vector<MetricSamples>& metrics,
                                        const VerdictOptions& opts = {});

}  // namespace perfgate::common
