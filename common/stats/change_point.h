// Change points in a metric's history by E-Divisive with means (Matteson & James 2014, "A
// nonparametric approach for multiple change point analysis of multivariate data", with
// alpha = 1): the split that maximises the energy-distance statistic Q-hat is tested by a
// permutation test; when significant, each side is searched again (binary segmentation).
// The permutations are seeded, so the same history gives the same answer.
#pragma once

#include <cstdint>
#include <vector>

namespace perfgate::common {

struct ChangePointOptions {
  double max_p = 0.001;     // significance of a split
  int permutations = 1999;  // p can go down to 1 / (permutations + 1)
  int min_segment = 3;      // values on each side of a split
  uint64_t seed = 0xe11e;
};

struct ChangePoint {
  int index = 0;                           // first value after the change
  double q = 0;                            // the statistic at the split
  double p = 1;                            // permutation p-value
  double mean_before = 0, mean_after = 0;  // over the segment the split was found in
};

// Q-hat(tau) for splitting `z` before index tau (min_segment <= tau <= n - min_segment);
// exposed for tests.
double EDivisiveQ(const std::vector<double>& z, int tau);

// Significant change points of `z`, by index ascending.
std::vector<ChangePoint> EDivisive(const std::vector<double>& z,
                                   const ChangePointOptions& opts = {});

}  // namespace perfgate::common
