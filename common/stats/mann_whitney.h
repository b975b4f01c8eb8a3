// Two-sided Mann-Whitney U test (Wilcoxon rank-sum) of two independent samples. Follows R's
// wilcox.test(x, y, correct = TRUE): the exact null distribution when both samples are smaller
// than 50 and there are no ties, otherwise the normal approximation with the tie correction of
// the variance and a continuity correction of 0.5.
#pragma once

#include <vector>

namespace perfgate::common {

struct MannWhitneyResult {
  double u = 0;        // U of x: pairs (xi, yj) with xi > yj, ties counting one half (R's W)
  double p = 1;        // two-sided p-value
  bool exact = false;  // from the exact distribution (else the normal approximation)
};

// Both samples need at least one value; with an empty one the result is p = 1.
MannWhitneyResult MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y);

// P(U <= u) under the null for sample sizes m and n without ties (exact; m, n < 50).
double MannWhitneyExactCdf(int m, int n, double u);

}  // namespace perfgate::common
