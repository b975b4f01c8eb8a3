#include "common/stats/multiple_testing.h"

#include <algorithm>
#include <numeric>

namespace perfgate::common {

std::vector<double> BenjaminiHochberg(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 1;
  for (size_t k = m; k-- > 0;) {
    const double v = p[order[k]] * static_cast<double>(m) / static_cast<double>(k + 1);
    running = std::min(running, v);
    adjusted[order[k]] = std::min(1.0, running);
  }
  return adjusted;
}

}  // namespace perfgate::common
