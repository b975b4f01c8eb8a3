// Percentile bootstrap confidence intervals for the effect of a comparison: the ratio of a
// statistic (the median by default) of the candidate's sample to the baseline's. Deterministic:
// the resampling generator is seeded, so a report renders the same interval every time.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace perfgate::common {

struct RatioInterval {
  double estimate = 0;  // statistic(candidate) / statistic(baseline)
  double low = 0, high = 0;
};

struct BootstrapOptions {
  int resamples = 5000;
  double confidence = 0.95;
  uint64_t seed = 0x5eed;
};

// Median by default. Both samples non-empty; a baseline statistic of 0 gives all zeros.
RatioInterval BootstrapRatio(const std::vector<double>& baseline,
                             const std::vector<double>& candidate,
                             const BootstrapOptions& opts = {},
                             const std::function<double(std::vector<double>&)>& statistic = {});

// The median of `v` (reorders it).
double MedianInPlace(std::vector<double>& v);

}  // namespace perfgate::common
