#include "common/stats/summary.h"

#include <algorithm>
#include <cmath>

namespace perfgate::common {

double Quantile(const std::vector<double>& sorted, double p) {
  if (sorted.size() == 1) return sorted[0];
  double h = (sorted.size() - 1) * std::clamp(p, 0.0, 1.0);
  size_t lo = static_cast<size_t>(std::floor(h));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

Summary Summarize(std::vector<double> v) {
  Summary s;
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = Quantile(v, 0.5);
  s.q1 = Quantile(v, 0.25);
  s.q3 = Quantile(v, 0.75);
  s.iqr = s.q3 - s.q1;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / (s.n - 1));
    if (s.mean != 0) s.cv = s.stddev / std::fabs(s.mean);
  }
  return s;
}

}  // namespace perfgate::common
