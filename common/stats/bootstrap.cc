#include "common/stats/bootstrap.h"

#include <algorithm>
#include <random>

#include "common/stats/summary.h"

namespace perfgate::common {

double MedianInPlace(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  return Quantile(v, 0.5);
}

RatioInterval BootstrapRatio(const std::vector<double>& baseline,
                             const std::vector<double>& candidate, const BootstrapOptions& opts,
                             const std::function<double(std::vector<double>&)>& statistic) {
  RatioInterval r;
  if (baseline.empty() || candidate.empty()) return r;
  auto stat = statistic ? statistic : MedianInPlace;
  std::vector<double> b(baseline), c(candidate);
  const double sb = stat(b), sc = stat(c);
  if (sb == 0) return r;
  r.estimate = sc / sb;
  std::mt19937_64 rng(opts.seed);
  std::uniform_int_distribution<size_t> pick_b(0, baseline.size() - 1),
      pick_c(0, candidate.size() - 1);
  std::vector<double> ratios;
  ratios.reserve(opts.resamples);
  for (int i = 0; i < opts.resamples; ++i) {
    for (auto& x : b) x = baseline[pick_b(rng)];
    for (auto& x : c) x = candidate[pick_c(rng)];
    const double rb = stat(b);
    if (rb != 0) ratios.push_back(stat(c) / rb);
  }
  if (ratios.empty()) return r;
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1 - opts.confidence) / 2;
  r.low = Quantile(ratios, tail);
  r.high = Quantile(ratios, 1 - tail);
  return r;
}

}  // namespace perfgate::common
