#include "common/stats/verdict.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/stats/mann_whitney.h"
#include "common/stats/multiple_testing.h"

namespace perfgate::common {

std::vector<MetricVerdict> JudgeMetrics(const std::vector<MetricSamples>& metrics,
                                        const VerdictOptions& opts) {
  std::vector<MetricVerdict> out(metrics.size());
  std::vector<size_t> tested;
  std::vector<double> pvalues;
  for (size_t i = 0; i < metrics.size(); ++i) {
    const MetricSamples& m = metrics[i];
    MetricVerdict& v = out[i];
    v.name = m.name;
    v.floor = std::max(opts.min_effect, opts.noise_factor * m.noise_cv);
    if (m.run_noise_cv > 0) {
      v.margin = opts.run_noise_z * m.run_noise_cv *
                 std::sqrt(1.0 / std::max(1, m.baseline_runs) + 1.0 / std::max(1, m.candidate_runs));
    }
    if (!m.baseline.empty()) {
      std::vector<double> b(m.baseline);
      v.baseline_median = MedianInPlace(b);
    }
    if (!m.candidate.empty()) {
      std::vector<double> c(m.candidate);
      v.candidate_median = MedianInPlace(c);
    }
    const int nb = static_cast<int>(m.baseline.size()), nc = static_cast<int>(m.candidate.size());
    if (nb < opts.min_repetitions || nc < opts.min_repetitions) {
      v.verdict = Verdict::kInconclusive;
      v.reason =
          absl::StrFormat("fewer than %d valid repetitions (baseline %d, candidate %d): no verdict",
                          opts.min_repetitions, nb, nc);
      continue;
    }
    if (v.baseline_median != 0) {
      v.ratio = BootstrapRatio(m.baseline, m.candidate, opts.bootstrap);
      v.has_ratio = true;
    }
    const MannWhitneyResult mw = MannWhitneyU(m.candidate, m.baseline);
    v.u = mw.u;
    v.p = mw.p;
    v.tested = true;
    tested.push_back(i);
    pvalues.push_back(mw.p);
  }
  const std::vector<double> adjusted = BenjaminiHochberg(pvalues);
  for (size_t k = 0; k < tested.size(); ++k) {
    const MetricSamples& m = metrics[tested[k]];
    MetricVerdict& v = out[tested[k]];
    v.p_adjusted = adjusted[k];
    const bool significant = v.p <= opts.alpha && v.p_adjusted <= opts.fdr_q;
    // Without a ratio (baseline median 0) any significant rise is material.
    const double change =
        v.has_ratio ? v.ratio.estimate - 1 : (v.candidate_median > 0 ? INFINITY : -INFINITY);
    const bool unchanged_medians = v.candidate_median == v.baseline_median;
    const double size = unchanged_medians ? 0 : std::abs(change);
    const bool worse = m.lower_is_better ? change > 0 : change < 0;
    const std::string effect =
        v.has_ratio ? absl::StrFormat("%+.1f %%", 100 * change) : std::string("from 0");
    const std::string noise =
        v.margin > 0 ? absl::StrFormat(", runs differ by +-%.1f %%", 100 * v.margin) : "";
    if (significant && size - v.margin >= v.floor) {
      v.verdict = worse ? Verdict::kRegression : Verdict::kImprovement;
      v.reason = absl::StrFormat("%s (floor %.1f %%%s), p = %.2g, BH-adjusted %.2g", effect,
                                 100 * v.floor, noise, v.p, v.p_adjusted);
    } else if (significant && size + v.margin >= v.floor) {
      // The runs differ, by an amount run-to-run noise could carry across the floor either way:
      // drift, or a real change drift has grown or hidden. One run a side cannot tell.
      v.verdict = Verdict::kInconclusive;
      v.reason = absl::StrFormat(
          "%s (p = %.2g) against a %.1f %% floor, but runs of the same code differ by +-%.1f %%: "
          "too close to call from one run a side",
          effect, v.p, 100 * v.floor, 100 * v.margin);
    } else if (significant) {
      v.verdict = Verdict::kNoChange;
      v.reason = absl::StrFormat("%s is significant (p = %.2g) but within the %.1f %% floor%s",
                                 effect, v.p, 100 * v.floor, noise);
    } else if (size >= v.floor) {
      v.verdict = Verdict::kInconclusive;
      v.reason = absl::StrFormat(
          "%s beyond the %.1f %% floor but not significant (p = %.2g, BH-adjusted %.2g; "
          "alpha %.2g)",
          effect, 100 * v.floor, v.p, v.p_adjusted, opts.alpha);
    } else {
      v.verdict = Verdict::kNoChange;
      v.reason = absl::StrFormat("%s, not significant (p = %.2g)", effect, v.p);
    }
  }
  return out;
}

}  // namespace perfgate::common
