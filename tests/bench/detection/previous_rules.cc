#include "tests/bench/detection/previous_rules.h"

#include <algorithm>
#include <cmath>

#include "common/stats/bootstrap.h"
#include "common/stats/mann_whitney.h"
#include "common/stats/multiple_testing.h"

namespace perfgate::bench {

double PreviousFloor(const v1::MetricComparison& m) { return std::max(0.03, 2 * m.noise_cv()); }

std::vector<v1::Verdict> PreviousVerdicts(const v1::Comparison& c, v1::Verdict* overall) {
  constexpr double kAlpha = 0.01, kQ = 0.05, kZ = 1.96;
  constexpr int kMinRepetitions = 6;
  std::vector<v1::Verdict> out(c.metrics_size(), v1::VERDICT_INCONCLUSIVE);
  std::vector<int> tested;
  std::vector<double> p;
  for (int i = 0; i < c.metrics_size(); ++i) {
    const v1::MetricComparison& m = c.metrics(i);
    if (m.baseline_values_size() < kMinRepetitions || m.candidate_values_size() < kMinRepetitions)
      continue;
    tested.push_back(i);
    p.push_back(common::MannWhitneyU({m.candidate_values().begin(), m.candidate_values().end()},
                                     {m.baseline_values().begin(), m.baseline_values().end()})
                    .p);
  }
  const std::vector<double> adjusted = common::BenjaminiHochberg(p);
  const int baseline_runs = std::max(1, c.baseline_run_ids_size());
  for (size_t k = 0; k < tested.size(); ++k) {
    const v1::MetricComparison& m = c.metrics(tested[k]);
    const double floor = PreviousFloor(m);
    const double margin =
        m.run_noise_cv() > 0 ? kZ * m.run_noise_cv() * std::sqrt(1.0 / baseline_runs + 1.0) : 0;
    const bool significant = p[k] <= kAlpha && adjusted[k] <= kQ;
    const double change =
        m.has_ratio() ? m.ratio() - 1 : (m.candidate_median() > 0 ? INFINITY : -INFINITY);
    const double size = m.candidate_median() == m.baseline_median() ? 0 : std::abs(change);
    const bool worse = m.direction() == v1::DIRECTION_HIGHER_IS_BETTER ? change < 0 : change > 0;
    v1::Verdict& v = out[tested[k]];
    if (significant && size - margin >= floor) {
      v = worse ? v1::VERDICT_REGRESSION : v1::VERDICT_IMPROVEMENT;
    } else if (significant && size + margin >= floor) {
      v = v1::VERDICT_INCONCLUSIVE;
    } else if (significant) {
      v = v1::VERDICT_NO_CHANGE;
    } else {
      v = size >= floor ? v1::VERDICT_INCONCLUSIVE : v1::VERDICT_NO_CHANGE;
    }
  }
  const auto count = [&](v1::Verdict v) { return std::count(out.begin(), out.end(), v); };
  *overall = count(v1::VERDICT_REGRESSION)     ? v1::VERDICT_REGRESSION
             : count(v1::VERDICT_INCONCLUSIVE) ? v1::VERDICT_INCONCLUSIVE
             : count(v1::VERDICT_IMPROVEMENT)  ? v1::VERDICT_IMPROVEMENT
                                               : v1::VERDICT_NO_CHANGE;
  return out;
}

}  // namespace perfgate::bench
