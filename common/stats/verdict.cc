#include "common/stats/verdict.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/stats/mann_whitney.h"
#include "common/stats/multiple_testing.h"

namespace perfgate::common {
namespace {

// The interval [low, high] of a ratio around `estimate`, each side widened in quadrature by
// `margin` (a relative standard error times z), in log space so that large effects stay
// positive.
void Widen(const RatioInterval& r, double margin, double* low, double* high) {
  if (r.estimate <= 0 || r.low <= 0 || r.high <= 0) {
    *low = r.low;
    *high = r.high;
    return;
  }
  const double e = std::log(r.estimate);
  *low = std::exp(e - std::hypot(e - std::log(r.low), margin));
  *high = std::exp(e + std::hypot(std::log(r.high) - e, margin));
}

std::string Percent(double fraction) { return absl::StrFormat("%+.1f %%", 100 * fraction); }

// Judges one tested metric whose p_adjusted is known.
void Decide(const MetricSamples& m, const VerdictOptions& opts, MetricVerdict& v) {
  const bool significant = v.p <= opts.alpha && v.p_adjusted <= opts.fdr_q;
  const std::string stats = absl::StrFormat("p = %.2g, BH-adjusted %.2g", v.p, v.p_adjusted);
  if (!v.has_ratio) {
    // The baseline's median is 0 (errors, failures): there is no ratio, only whether the
    // candidate moved off 0.
    if (v.candidate_median == 0 && !significant) {
      v.verdict = Verdict::kNoChange;
      v.decision = Decision::kWithinFloor;
      v.reason = absl::StrFormat("both medians 0, not significant (%s)", stats);
    } else if (v.candidate_median != 0 && significant) {
      const bool worse = m.lower_is_better == (v.candidate_median > 0);
      v.verdict = worse ? Verdict::kRegression : Verdict::kImprovement;
      v.decision = Decision::kBeyondFloor;
      v.reason = absl::StrFormat("from 0 to %.4g (%s)", v.candidate_median, stats);
    } else {
      v.verdict = Verdict::kInconclusive;
      v.decision = significant ? Decision::kStraddlesFloor : Decision::kNotSignificant;
      v.reason = absl::StrFormat(
          "baseline median 0, candidate median %.4g: %s (%s)", v.candidate_median,
          significant ? "the values differ but the medians do not" : "not significant", stats);
    }
    return;
  }
  const double lo = v.low - 1, hi = v.high - 1, f = v.floor;
  const std::string interval = absl::StrFormat(
      "%s, interval %s .. %s%s against a %.1f %% floor", Percent(v.ratio.estimate - 1), Percent(lo),
      Percent(hi),
      v.margin > 0 ? absl::StrFormat(" (runs differ by +-%.1f %%%s)", 100 * v.margin,
                                     v.margin_prior ? ", assumed" : "")
                   : "",
      100 * f);
  if (lo > f || hi < -f) {
    const bool worse = m.lower_is_better ? lo > f : hi < -f;
    if (significant) {
      v.verdict = worse ? Verdict::kRegression : Verdict::kImprovement;
      v.decision = Decision::kBeyondFloor;
      v.reason = absl::StrFormat("%s: beyond it (%s)", interval, stats);
    } else {
      v.verdict = Verdict::kInconclusive;
      v.decision = Decision::kNotSignificant;
      v.reason = absl::StrFormat("%s: beyond it, but not significant across the metrics (%s)",
                                 interval, stats);
    }
  } else if (lo > -f && hi < f) {
    v.verdict = Verdict::kNoChange;
    v.decision = Decision::kWithinFloor;
    v.reason = absl::StrFormat("%s: within it (%s)", interval, stats);
  } else {
    v.verdict = Verdict::kInconclusive;
    v.decision = Decision::kStraddlesFloor;
    v.reason = absl::StrFormat("%s: the interval reaches across it (%s)", interval, stats);
  }
}

}  // namespace

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kTooFewRepetitions:
      return "too_few_repetitions";
    case Decision::kBeyondFloor:
      return "beyond_floor";
    case Decision::kWithinFloor:
      return "within_floor";
    case Decision::kStraddlesFloor:
      return "straddles_floor";
    case Decision::kNotSignificant:
      return "not_significant";
  }
  return "unknown";
}

double PooledRunNoise(double observed_cv, int runs, double prior_cv, double prior_weight) {
  if (runs <= 0) return observed_cv;  // not said how many: taken as it is
  const double df = runs - 1;
  if (df + prior_weight <= 0) return observed_cv;
  return std::sqrt((prior_weight * prior_cv * prior_cv + df * observed_cv * observed_cv) /
                   (prior_weight + df));
}

std::vector<MetricVerdict> JudgeMetrics(const std::vector<MetricSamples>& metrics,
                                        const VerdictOptions& opts) {
  std::vector<MetricVerdict> out(metrics.size());
  std::vector<size_t> tested[2];  // [0] not gating, [1] gating: one BH family each
  for (size_t i = 0; i < metrics.size(); ++i) {
    const MetricSamples& m = metrics[i];
    MetricVerdict& v = out[i];
    v.name = m.name;
    v.floor = m.min_effect >= 0 ? m.min_effect : opts.min_effect;
    if (!m.interleaved) {
      v.margin_prior = m.run_noise_cv < 0;
      const double cv = v.margin_prior
                            ? opts.prior_run_noise_cv
                            : PooledRunNoise(m.run_noise_cv, m.run_noise_runs,
                                             opts.prior_run_noise_cv, opts.prior_run_noise_weight);
      v.margin =
          opts.run_noise_z * cv *
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
      v.decision = Decision::kTooFewRepetitions;
      v.reason =
          absl::StrFormat("fewer than %d valid repetitions (baseline %d, candidate %d): no verdict",
                          opts.min_repetitions, nb, nc);
      continue;
    }
    v.has_ratio = v.baseline_median != 0;  // its interval: below, all metrics at once
    const MannWhitneyResult mw = MannWhitneyU(m.candidate, m.baseline);
    v.u = mw.u;
    v.p = mw.p;
    v.tested = true;
    tested[m.gate].push_back(i);
  }
  // The bootstraps are most of the time (5,000 resamples each) and independent, each seeded on
  // its own: spread over the cores, the same intervals come out.
  std::atomic<size_t> next{0};
  auto bootstrap = [&] {
    for (size_t i; (i = next++) < out.size();) {
      MetricVerdict& v = out[i];
      if (!v.has_ratio) continue;
      v.ratio = BootstrapRatio(metrics[i].baseline, metrics[i].candidate, opts.bootstrap);
      Widen(v.ratio, v.margin, &v.low, &v.high);
    }
  };
  const size_t helpers =
      out.size() < 8 ? 0
                     : std::min<size_t>(3, std::max(1u, std::thread::hardware_concurrency()) - 1);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < helpers; ++t) threads.emplace_back(bootstrap);
  bootstrap();
  for (std::thread& t : threads) t.join();
  for (const std::vector<size_t>& family : tested) {
    std::vector<double> p;
    for (size_t i : family) p.push_back(out[i].p);
    const std::vector<double> adjusted = BenjaminiHochberg(p);
    for (size_t k = 0; k < family.size(); ++k) {
      out[family[k]].p_adjusted = adjusted[k];
      Decide(metrics[family[k]], opts, out[family[k]]);
    }
  }
  return out;
}

double NormalQuantile(double p) {
  // Acklam's rational approximation (relative error 1.15e-9), then one Halley step on erfc,
  // which brings it to double precision.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p <= 0) return -INFINITY;
  if (p >= 1) return INFINITY;
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - 0.02425) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

int RepetitionsToDecide(double cv, double distance, double confidence, double power) {
  if (cv <= 0) return 0;
  if (distance <= 0) return INT32_MAX;
  const double z = NormalQuantile((1 + confidence) / 2) + NormalQuantile(power);
  const double n = 2 * (M_PI / 2) * cv * cv * z * z / (distance * distance);
  return n >= INT32_MAX ? INT32_MAX : static_cast<int>(std::ceil(n));
}

}  // namespace perfgate::common
