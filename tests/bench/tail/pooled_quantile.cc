#include "tests/bench/tail/pooled_quantile.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/stats/summary.h"

namespace perfgate::bench {
namespace {

// The rank (1-based, ascending) of the q-quantile among `total` values, as
// HdrHistogram::ValueAtPercentile computes it.
int64_t TargetRank(double q, int64_t total) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * static_cast<double>(total))));
}

// One side prepared for resampling: only the buckets at or above `threshold` are kept per
// repetition (as indices into `grid`), the rest counted.
struct Side {
  std::vector<double> grid;  // ascending distinct values >= threshold
  struct Rep {
    int64_t total = 0, below = 0;                  // values, and values under the threshold
    std::vector<std::pair<size_t, int64_t>> tail;  // (grid index, count)
  };
  std::vector<Rep> reps;
  std::vector<int64_t> scratch;  // grid-sized counts of one resample

  Side(const std::vector<CountedValues>& repetitions, double q) {
    double threshold = INFINITY;
    for (const CountedValues& r : repetitions) {
      if (r.Total() > 0) threshold = std::min(threshold, PooledQuantile({r}, q));
    }
    for (const CountedValues& r : repetitions) {
      for (double v : r.values)
        if (v >= threshold) grid.push_back(v);
    }
    std::sort(grid.begin(), grid.end());
    grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
    for (const CountedValues& r : repetitions) {
      Rep& rep = reps.emplace_back();
      for (size_t i = 0; i < r.values.size(); ++i) {
        rep.total += r.counts[i];
        if (r.values[i] < threshold) {
          rep.below += r.counts[i];
        } else {
          const size_t at = std::lower_bound(grid.begin(), grid.end(), r.values[i]) - grid.begin();
          rep.tail.emplace_back(at, r.counts[i]);
        }
      }
    }
    scratch.resize(grid.size());
  }

  // The pooled q-quantile of the repetitions picked (indices into reps, repeats allowed).
  double Quantile(const std::vector<size_t>& picked, double q) {
    std::fill(scratch.begin(), scratch.end(), 0);
    int64_t total = 0, seen = 0;
    for (size_t i : picked) {
      total += reps[i].total;
      seen += reps[i].below;
      for (const auto& [at, count] : reps[i].tail) scratch[at] += count;
    }
    if (total == 0) return 0;
    const int64_t target = TargetRank(q, total);
    for (size_t j = 0; j < grid.size(); ++j) {
      seen += scratch[j];
      if (seen >= target) return grid[j];
    }
    return grid.empty() ? 0 : grid.back();
  }
};

}  // namespace

int64_t CountedValues::Total() const {
  int64_t t = 0;
  for (int64_t c : counts) t += c;
  return t;
}

double PooledQuantile(const std::vector<CountedValues>& repetitions, double q) {
  // The merged distribution's values in order, each with its count over the repetitions.
  std::vector<std::pair<double, int64_t>> all;
  int64_t total = 0;
  for (const CountedValues& r : repetitions) {
    for (size_t i = 0; i < r.values.size(); ++i) {
      all.emplace_back(r.values[i], r.counts[i]);
      total += r.counts[i];
    }
  }
  if (total == 0) return 0;
  std::sort(all.begin(), all.end());
  const int64_t target = TargetRank(q, total);
  int64_t seen = 0;
  for (const auto& [v, c] : all) {
    seen += c;
    if (seen >= target) return v;
  }
  return all.back().first;
}

PooledQuantileRatio BootstrapPooledQuantile(const std::vector<CountedValues>& baseline,
                                            const std::vector<CountedValues>& candidate, double q,
                                            const BootstrapOptions& opts) {
  PooledQuantileRatio out;
  if (baseline.empty() || candidate.empty()) return out;
  out.baseline = PooledQuantile(baseline, q);
  out.candidate = PooledQuantile(candidate, q);
  if (out.baseline == 0) {
    out.candidate = 0;
    return out;
  }
  out.ratio.estimate = out.candidate / out.baseline;
  Side b(baseline, q), c(candidate, q);
  std::mt19937_64 rng(opts.seed);
  std::uniform_int_distribution<size_t> pick_b(0, baseline.size() - 1),
      pick_c(0, candidate.size() - 1);
  std::vector<size_t> pb(baseline.size()), pc(candidate.size());
  std::vector<double> ratios;
  ratios.reserve(opts.resamples);
  int64_t at_or_below = 0, at_or_above = 0;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < opts.resamples; ++i) {
    for (auto& x : pb) x = pick_b(rng);
    for (auto& x : pc) x = pick_c(rng);
    const double qb = b.Quantile(pb, q);
    if (qb <= 0) continue;
    const double r = c.Quantile(pc, q) / qb;
    ratios.push_back(r);
    at_or_below += r <= 1;
    at_or_above += r >= 1;
    if (r > 0) {
      sum += std::log(r);
      sum_sq += std::log(r) * std::log(r);
    }
  }
  if (ratios.empty()) return out;
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1 - opts.confidence) / 2;
  out.ratio.low = common::Quantile(ratios, tail);
  out.ratio.high = common::Quantile(ratios, 1 - tail);
  const double n = static_cast<double>(ratios.size());
  out.p =
      std::min(1.0, 2 * (static_cast<double>(std::min(at_or_below, at_or_above)) + 1) / (n + 1));
  const double mean = sum / n;
  out.log_se = std::sqrt(std::max(0.0, sum_sq / n - mean * mean));
  return out;
}

}  // namespace perfgate::bench
