// Descriptive statistics of a small sample (a metric over a job's repetitions). Quantiles use
// linear interpolation between order statistics (Hyndman & Fan type 7, R's and NumPy's
// default), so the median of an even-sized sample is the mean of the middle two.
#pragma once

#include <vector>

namespace perfgate::common {

struct Summary {
  int n = 0;
  double median = 0, q1 = 0, q3 = 0, iqr = 0;
  double mean = 0, stddev = 0;  // sample standard deviation (n - 1)
  double cv = 0;                // stddev / |mean|; 0 when n < 2 or mean == 0
  double min = 0, max = 0;
};

// The p-quantile (0 <= p <= 1) of `sorted` (ascending, non-empty).
double Quantile(const std::vector<double>& sorted, double p);

// All zeros for an empty sample.
Summary Summarize(std::vector<double> values);

}  // namespace perfgate::common
