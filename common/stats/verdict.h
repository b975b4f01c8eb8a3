// The verdict on a candidate's metric against its baseline (docs/analysis.md "Statistics"):
// a two-sided Mann-Whitney U test on the repetitions at alpha, Benjamini-Hochberg
// across the metrics of one comparison at q, and an effect floor of
// max(min_effect, noise_factor x the metric's noise CV); the effect is the ratio of medians with
// a bootstrap confidence interval.
//
//   fewer than min_repetitions valid values on a side   -> inconclusive (never a guess)
//   significant (p <= alpha and BH-adjusted p <= q):
//     |ratio - 1| - margin >= floor  -> regression or improvement, by the metric's direction
//     |ratio - 1| + margin >= floor  -> inconclusive: the runs differ, by an amount run-to-run
//                                       noise could carry across the floor either way
//     otherwise                      -> no_change (a real but immaterial shift)
//   not significant:
//     |ratio - 1| >= floor           -> inconclusive (a material shift the test cannot confirm)
//     otherwise                      -> no_change
// An inconclusive candidate gets an interleaved confirmation run from the controller.
//
// The margin is run-to-run noise. The test sees only the repetitions of one run a side, and
// repetitions of one run agree more than runs of the same code do: a machine drifts between
// runs, a process starts with another memory layout. Two runs minutes apart can differ
// "significantly" with nothing changed, or a real change be grown or hidden by drift. Where the
// metric's run-to-run CV is known (the CV of run medians in its history), margin =
// run_noise_z x run_noise_cv x sqrt(1/baseline_runs + 1/candidate_runs): a significant shift is
// a verdict only when it clears the floor by more than runs differ, and immaterial only when it
// stays below it by as much. In between, the interleaved confirmation (baseline and candidate
// taking turns on one agent, so drift falls on both) decides; its own judgement has margin 0. A
// shift the test does not find significant is judged as without a margin: the margin is not a
// demand to prove equivalence (for a metric as noisy from run to run as within, like a maximum,
// no single run could). Without a known run-to-run CV the margin is 0: the plain rules.
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
  double run_noise_z = 1.96;  // the margin's width in run-to-run standard deviations
  BootstrapOptions bootstrap;
};

struct MetricSamples {
  std::string name;
  bool lower_is_better = true;
  double noise_cv = 0;  // the metric's usual coefficient of variation on this machine class
  std::vector<double> baseline, candidate;
  double run_noise_cv = 0;  // CV of a run's median from run to run; 0 = unknown (no margin)
  int baseline_runs = 1, candidate_runs = 1;  // runs pooled on each side
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
  double margin = 0;    // run-to-run noise around the floor (fraction; 0 when unknown)
};

// Verdicts for the metrics of one comparison, in input order. BH runs over the tested metrics.
std::vector<MetricVerdict> JudgeMetrics(const std::vector<MetricSamples>& metrics,
                                        const VerdictOptions& opts = {});

}  // namespace perfgate::common
