// The verdict on a candidate's metric against its baseline (docs/analysis.md "Statistics").
// Two questions, kept apart:
//
//   how large a change matters   the practical floor: min_effect (default 3 %, settable per
//                                suite and per metric). It does not grow with noise.
//   how well the change is known the 95 % bootstrap interval of the ratio of medians over the
//                                repetitions, widened by the run-to-run margin (below).
//
//   fewer than min_repetitions valid values on a side   -> inconclusive (never a guess)
//   the whole interval beyond +floor or -floor, and the shift significant (Mann-Whitney p <=
//   alpha, Benjamini-Hochberg adjusted p <= q)          -> regression or improvement, by the
//                                                          metric's direction
//   the whole interval inside -floor..+floor            -> no_change (an equivalence test: two
//                                                          one-sided tests at 2.5 % each)
//   otherwise                                           -> inconclusive: the interval reaches
//                                                          across the floor
// A significant shift whose interval reaches beyond the floor is never no_change, and more
// repetitions narrow the interval, so more evidence finds smaller shifts.
//
// The margin is run-to-run noise. The interval sees only the repetitions of one run a side, and
// repetitions of one run agree more than runs of the same code do: a machine drifts between
// runs, a process starts with another memory layout. margin = run_noise_z x run_noise_cv x
// sqrt(1/baseline_runs + 1/candidate_runs), with run_noise_cv the drift of the metric's run
// medians beyond their repetitions' own noise where its history has 3 runs (pooled with the
// prior while those runs are few: PooledRunNoise), else a conservative prior (never 0: two runs
// of the same code that the repetitions measure precisely would otherwise differ
// "significantly"). It widens the interval in quadrature (independent errors), in log space. An
// interleaved confirmation, whose sides take turns on one agent so that drift falls on both,
// has no margin.
//
// Benjamini-Hochberg runs over two families: the gating metrics (those that decide the run's
// verdict) and the rest (reported with their intervals, deciding nothing).
#pragma once

#include <string>
#include <vector>

#include "common/stats/bootstrap.h"

namespace perfgate::common {

enum class Verdict { kNoChange, kRegression, kImprovement, kInconclusive };

// Which rule decided a verdict.
enum class Decision {
  kTooFewRepetitions,  // inconclusive: not enough valid repetitions to judge
  kBeyondFloor,        // regression / improvement: the interval lies beyond the floor
  kWithinFloor,        // no_change: the interval lies inside +-floor
  kStraddlesFloor,     // inconclusive: the interval reaches across the floor
  kNotSignificant,     // inconclusive: beyond the floor, but not significant after BH
};

const char* DecisionName(Decision d);  // too_few_repetitions, beyond_floor, ...

// The drift a margin uses: a variance learned from `runs` run medians (runs - 1 degrees of
// freedom) pooled with the prior's, which counts for `prior_weight` degrees of freedom (runs
// <= 0: observed_cv as it is). Three runs that happen to agree say little about how far the
// next one lands; the estimate moves from the prior to the data as runs accumulate, and is
// never 0 while the prior is not.
double PooledRunNoise(double observed_cv, int runs, double prior_cv, double prior_weight);

struct VerdictOptions {
  double alpha = 0.01;
  double fdr_q = 0.05;
  double min_effect = 0.03;  // the practical floor unless a metric says otherwise
  int min_repetitions = 6;
  double run_noise_z = 1.96;  // the margin's width in run-to-run standard deviations
  // The drift assumed while a metric's is unknown (fewer than 3 runs in its history), and the
  // value a learned drift is pulled towards while it rests on few runs.
  double prior_run_noise_cv = 0.02;
  // How many runs' worth of evidence the prior counts for against a learned drift (degrees of
  // freedom of a scaled inverse chi-square prior on its variance).
  double prior_run_noise_weight = 4;
  BootstrapOptions bootstrap;
};

struct MetricSamples {
  std::string name;
  bool lower_is_better = true;
  double noise_cv = 0;  // the metric's usual repetition CV on this machine class (0 = unknown)
  std::vector<double> baseline, candidate;
  // How much run medians drift apart beyond what their repetitions explain (a CV); < 0 =
  // unknown: the prior is used.
  double run_noise_cv = -1;
  // How many run medians run_noise_cv was learned from: it is pooled with the prior
  // (PooledRunNoise); 0: taken as it is.
  int run_noise_runs = 0;
  // The sides took turns on one agent (an interleaved confirmation): drift falls on both, no
  // margin.
  bool interleaved = false;
  int baseline_runs = 1, candidate_runs = 1;  // runs pooled on each side
  double min_effect = -1;                     // the metric's own floor; < 0: the options'
  bool gate = true;                           // decides the run's verdict
};

struct MetricVerdict {
  std::string name;
  Verdict verdict = Verdict::kInconclusive;
  Decision decision = Decision::kTooFewRepetitions;
  std::string reason;  // one line saying why
  double baseline_median = 0, candidate_median = 0;
  RatioInterval ratio;       // candidate / baseline medians, with the repetitions' CI
  bool has_ratio = false;    // false when the baseline median is 0
  double low = 0, high = 0;  // the ratio's interval widened by the margin (what decides)
  double u = 0, p = 1, p_adjusted = 1;
  bool tested = false;        // enough repetitions to test
  double floor = 0;           // the practical floor used (fraction, 0.03 = 3 %)
  double margin = 0;          // run-to-run noise (fraction; 0 for an interleaved confirmation)
  bool margin_prior = false;  // the margin rests on the prior (run-to-run CV unknown)
};

// Verdicts for the metrics of one comparison, in input order.
std::vector<MetricVerdict> JudgeMetrics(const std::vector<MetricSamples>& metrics,
                                        const VerdictOptions& opts = {});

// Repetitions per side for the ratio-of-medians interval at `confidence` to come out beyond or
// within the floor with probability `power`, for a metric whose repetitions vary with
// coefficient of variation `cv` and a true shift `distance` away from the floor (fractions).
// Normal approximation: the median of n repetitions has standard error sqrt(pi/2) x sigma /
// sqrt(n), so n = 2 x (pi/2) x cv^2 x (z_(1+confidence)/2 + z_power)^2 / distance^2, rounded up.
int RepetitionsToDecide(double cv, double distance, double confidence = 0.95, double power = 0.9);

// The p-quantile of the standard normal distribution (0 < p < 1).
double NormalQuantile(double p);

}  // namespace perfgate::common
