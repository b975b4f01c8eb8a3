#include "common/stats/change_point.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace perfgate::common {
namespace {

// Prefix sums of the distance matrix |z_i - z_j| so that the sum over any block of rows and
// columns is O(1): S[i][j] = sum over a < i, b < j.
class DistanceSums {
 public:
  explicit DistanceSums(const std::vector<double>& z) : n_(z.size()), s_((n_ + 1) * (n_ + 1), 0) {
    for (size_t i = 0; i < n_; ++i) {
      double row = 0;
      for (size_t j = 0; j < n_; ++j) {
        row += std::abs(z[i] - z[j]);
        at(i + 1, j + 1) = at(i, j + 1) + row;
      }
    }
  }
  // Sum of |z_a - z_b| for a in [r0, r1), b in [c0, c1).
  double Block(size_t r0, size_t r1, size_t c0, size_t c1) const {
    return get(r1, c1) - get(r0, c1) - get(r1, c0) + get(r0, c0);
  }

 private:
  double& at(size_t i, size_t j) { return s_[i * (n_ + 1) + j]; }
  double get(size_t i, size_t j) const { return s_[i * (n_ + 1) + j]; }
  size_t n_;
  std::vector<double> s_;
};

double Q(const DistanceSums& d, size_t n, size_t tau) {
  const double a = static_cast<double>(tau), b = static_cast<double>(n - tau);
  const double between = d.Block(0, tau, tau, n) * 2 / (a * b);
  // Each unordered pair counted twice in a block, divided by the number of pairs (binomial).
  const double within_a = d.Block(0, tau, 0, tau) / 2 / (a * (a - 1) / 2);
  const double within_b = d.Block(tau, n, tau, n) / 2 / (b * (b - 1) / 2);
  return a * b / (a + b) * (between - within_a - within_b);
}

// The best split of `z` and its statistic; tau = -1 if the segment is too short.
std::pair<int, double> BestSplit(const std::vector<double>& z, int min_segment) {
  const size_t n = z.size();
  const size_t m = std::max(2, min_segment);
  if (n < 2 * m) return {-1, 0};
  DistanceSums d(z);
  int best = -1;
  double best_q = -INFINITY;
  for (size_t tau = m; tau + m <= n; ++tau) {
    const double q = Q(d, n, tau);
    if (q > best_q) {
      best_q = q;
      best = static_cast<int>(tau);
    }
  }
  return {best, best_q};
}

void Search(const std::vector<double>& z, int offset, const ChangePointOptions& opts,
            std::mt19937_64& rng, std::vector<ChangePoint>* out) {
  const auto [tau, q] = BestSplit(z, opts.min_segment);
  if (tau < 0) return;
  std::vector<double> shuffled(z);
  int at_least = 0;
  for (int i = 0; i < opts.permutations; ++i) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    if (BestSplit(shuffled, opts.min_segment).second >= q) ++at_least;
  }
  const double p = (at_least + 1.0) / (opts.permutations + 1.0);
  if (p > opts.max_p) return;
  ChangePoint cp;
  cp.index = offset + tau;
  cp.q = q;
  cp.p = p;
  for (int i = 0; i < tau; ++i) cp.mean_before += z[i] / tau;
  for (size_t i = tau; i < z.size(); ++i) cp.mean_after += z[i] / (z.size() - tau);
  out->push_back(cp);
  Search(std::vector<double>(z.begin(), z.begin() + tau), offset, opts, rng, out);
  Search(std::vector<double>(z.begin() + tau, z.end()), offset + tau, opts, rng, out);
}

}  // namespace

double EDivisiveQ(const std::vector<double>& z, int tau) {
  DistanceSums d(z);
  return Q(d, z.size(), static_cast<size_t>(tau));
}

std::vector<ChangePoint> EDivisive(const std::vector<double>& z, const ChangePointOptions& opts) {
  std::vector<ChangePoint> out;
  std::mt19937_64 rng(opts.seed);
  Search(z, 0, opts, rng, &out);
  std::sort(out.begin(), out.end(),
            [](const ChangePoint& a, const ChangePoint& b) { return a.index < b.index; });
  return out;
}

}  // namespace perfgate::common
