#include "common/stats/bootstrap.h"

#include <algorithm>
#include <random>

#include "common/stats/summary.h"

namespace perfgate::common {

double MedianInPlace(std::vector<double>& v) {
  // Quantile(sorted, 0.5) without the sort: a selection (linear) finds the upper middle, the
  // largest of what it put below finds the lower; the same arithmetic gives the same bits. The
  // bootstrap calls this twice per resample, so it is most of a comparison's time.
  const size_t n = v.size();
  if (n == 0) return 0;
  if (n == 1) return v[0];
  const double h = static_cast<double>(n - 1) * 0.5;
  const size_t lo = (n - 1) / 2, hi = lo + 1;  // hi < n as n >= 2
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(hi), v.end());
  const double upper = v[hi];
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(hi));
  return lower + (h - static_cast<double>(lo)) * (upper - lower);
}

namespace {

// The medians of resamples of one sample, as MedianInPlace of each resample would give them
// (the same bits), without sorting: the sample is ranked once; a resample is a count per rank of
// the indices drawn, and its middle order statistics are found by walking the counts.
class ResampledMedian {
 public:
  explicit ResampledMedian(const std::vector<double>& sample)
      : n_(sample.size()), rank_(sample.size()), count_(sample.size()) {
    std::vector<size_t> order(sample.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return sample[a] < sample[b]; });
    sorted_.resize(order.size());
    for (size_t r = 0; r < order.size(); ++r) {
      rank_[order[r]] = r;
      sorted_[r] = sample[order[r]];
    }
  }

  // Draws a resample (n indices from `pick`, in the order the plain loop draws them) and
  // returns its median.
  template <typename Rng, typename Pick>
  double Next(Rng& rng, Pick& pick) {
    const size_t n = n_;
    std::fill(count_.begin(), count_.end(), 0);
    for (size_t j = 0; j < n; ++j) ++count_[rank_[pick(rng)]];
    if (n == 1) return sorted_[0];
    const size_t lo = (n - 1) / 2, hi = lo + 1;
    const double h = static_cast<double>(n - 1) * 0.5;
    double lower = 0, upper = 0;
    size_t seen = 0, r = 0;
    for (;; ++r) {  // the rank holding order statistic `lo`, then `hi`
      seen += count_[r];
      if (seen > lo) break;
    }
    lower = sorted_[r];
    if (seen > hi) {
      upper = lower;
    } else {
      for (++r;; ++r) {
        seen += count_[r];
        if (seen > hi) break;
      }
      upper = sorted_[r];
    }
    return lower + (h - static_cast<double>(lo)) * (upper - lower);
  }

 private:
  size_t n_;
  std::vector<double> sorted_;
  std::vector<size_t> rank_;
  std::vector<uint32_t> count_;
};

}  // namespace

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
  if (!statistic) {
    // The median, by counting (most of a comparison's time went to sorting resamples).
    ResampledMedian mb(baseline), mc(candidate);
    for (int i = 0; i < opts.resamples; ++i) {
      const double rb = mb.Next(rng, pick_b);
      const double rc = mc.Next(rng, pick_c);
      if (rb != 0) ratios.push_back(rc / rb);
    }
  } else {
    for (int i = 0; i < opts.resamples; ++i) {
      for (auto& x : b) x = baseline[pick_b(rng)];
      for (auto& x : c) x = candidate[pick_c(rng)];
      const double rb = stat(b);
      if (rb != 0) ratios.push_back(stat(c) / rb);
    }
  }
  if (ratios.empty()) return r;
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1 - opts.confidence) / 2;
  r.low = Quantile(ratios, tail);
  r.high = Quantile(ratios, 1 - tail);
  return r;
}

}  // namespace perfgate::common
