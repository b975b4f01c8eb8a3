#include "common/stats/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace perfgate::common {
namespace {

// Ranks (1-based, ties get the mean of their positions) of `v`, and sum of t^3 - t over groups
// of ties.
std::vector<double> Ranks(const std::vector<double>& v, double* tie_term) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  *tie_term = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double rank = (i + j) / 2.0 + 1;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    const double t = static_cast<double>(j - i + 1);
    *tie_term += t * t * t - t;
    i = j + 1;
  }
  return ranks;
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

}  // namespace

double MannWhitneyExactCdf(int m, int n, double u) {
  // counts[k] = arrangements of m x's among n y's with U = k, built up one x at a time by the
  // recurrence f(i, j, k) = f(i - 1, j, k - j) + f(i, j - 1, k) (Mann & Whitney 1947).
  const int max_u = m * n;
  const int k_max = static_cast<int>(std::floor(u + 1e-9));
  if (k_max < 0) return 0;
  if (k_max >= max_u) return 1;
  // f[j][k] for the current i: arrangements of i x's and j y's with U = k.
  std::vector<std::vector<double>> f(n + 1, std::vector<double>(max_u + 1, 0));
  for (int j = 0; j <= n; ++j) f[j][0] = 1;  // i = 0
  for (int i = 1; i <= m; ++i) {
    std::vector<std::vector<double>> g(n + 1, std::vector<double>(max_u + 1, 0));
    for (int j = 0; j <= n; ++j) {
      for (int k = 0; k <= i * j; ++k) {
        double c = 0;
        if (k - j >= 0) c += f[j][k - j];  // the largest value is an x: it beats all j y's
        if (j > 0) c += g[j - 1][k];       // the largest value is a y
        g[j][k] = c;
      }
    }
    f = std::move(g);
  }
  double total = 0, below = 0;
  for (int k = 0; k <= max_u; ++k) {
    total += f[n][k];
    if (k <= k_max) below += f[n][k];
  }
  return below / total;
}

MannWhitneyResult MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y) {
  MannWhitneyResult r;
  const size_t m = x.size(), n = y.size();
  if (m == 0 || n == 0) return r;
  std::vector<double> all(x);
  all.insert(all.end(), y.begin(), y.end());
  double tie_term = 0;
  const std::vector<double> ranks = Ranks(all, &tie_term);
  double rank_sum_x = 0;
  for (size_t i = 0; i < m; ++i) rank_sum_x += ranks[i];
  r.u = rank_sum_x - m * (m + 1) / 2.0;

  const double md = static_cast<double>(m), nd = static_cast<double>(n);
  if (m < 50 && n < 50 && tie_term == 0) {
    r.exact = true;
    const int mi = static_cast<int>(m), ni = static_cast<int>(n);
    // R: p = 2 * (U > mn/2 ? P(U >= u) : P(U <= u)), capped at 1.
    double p;
    if (r.u > md * nd / 2) {
      p = 1 - MannWhitneyExactCdf(mi, ni, r.u - 1);
    } else {
      p = MannWhitneyExactCdf(mi, ni, r.u);
    }
    r.p = std::min(1.0, 2 * p);
    return r;
  }
  const double mean = md * nd / 2;
  const double var = md * nd / 12 * ((md + nd + 1) - tie_term / ((md + nd) * (md + nd - 1)));
  if (var <= 0) return r;  // every value tied: no evidence either way
  const double d = r.u - mean;
  const double correction = d > 0 ? 0.5 : (d < 0 ? -0.5 : 0);
  const double z = (d - correction) / std::sqrt(var);
  r.p = std::min(1.0, 2 * NormalCdf(-std::abs(z)));
  return r;
}

}  // namespace perfgate::common
