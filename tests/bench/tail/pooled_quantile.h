// The estimator the tail benchmark weighs against the comparer's: a tail percentile from each
// side's merged histogram (all its repetitions' requests pooled), with an interval and a
// two-sided p-value from a bootstrap that resamples whole repetitions on each side (so that a
// repetition's requests stay together, with whatever they share: a stall, a GC pause). The
// comparer judges the median of the repetitions' own percentiles instead; tail_bench.cc says
// why, with figures.
#pragma once

#include <cstdint>
#include <vector>

#include "common/stats/bootstrap.h"

namespace perfgate::bench {

using common::BootstrapOptions;
using common::RatioInterval;

// One repetition's distribution: its distinct values in ascending order with their counts (a
// histogram's non-empty buckets).
struct CountedValues {
  std::vector<double> values;
  std::vector<int64_t> counts;
  int64_t Total() const;
};

// The q-quantile (0 < q <= 1) of the repetitions merged: the smallest value with at least
// ceil(q x total) values at or below it, as HdrHistogram::ValueAtPercentile reports it. 0 when
// they hold no values.
double PooledQuantile(const std::vector<CountedValues>& repetitions, double q);

struct PooledQuantileRatio {
  double baseline = 0, candidate = 0;  // each side's pooled q-quantile
  RatioInterval ratio;                 // candidate / baseline, percentile bootstrap interval
  // Two-sided: twice the smaller share of resampled ratios on either side of 1, with the usual
  // +1 correction ((k + 1) / (B + 1)), at most 1.
  double p = 1;
  // The standard error of log(ratio) over the resamples: how well the ratio is known, for a
  // sample-size estimate.
  double log_se = 0;
};

// Both sides non-empty, each repetition sorted. A baseline quantile of 0 gives all zeros and
// p = 1. Deterministic (opts.seed). Cost: each resample touches only the buckets at or above
// the lowest repetition's own q-quantile (the pooled quantile of any resample lies between its
// repetitions' own), so a tail percentile costs a small share of the histograms.
PooledQuantileRatio BootstrapPooledQuantile(const std::vector<CountedValues>& baseline,
                                            const std::vector<CountedValues>& candidate, double q,
                                            const BootstrapOptions& opts = {});

}  // namespace perfgate::bench
