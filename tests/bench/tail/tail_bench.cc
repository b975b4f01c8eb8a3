// How to judge a tail percentile (p99) of a latency histogram: the comparer's estimator (the
// median of the repetitions' own p99s, its bootstrap interval: common/stats/verdict.h) against
// the p99 of each side's merged histogram with a bootstrap over repetitions
// (pooled_quantile.h), on simulated repetitions whose requests are drawn as a service's are:
//
//   iid       every request lognormal around 1 ms (sigma 0.35)
//   slow-mode 2 % of requests 8x slower (a cache miss path), independently
//   stalls    a quarter of the repetitions stall: 4 % of their requests 6x slower (a noisy
//             neighbour, a GC pause, a compaction: what a shared machine does to a run)
//   rare-big  a tenth of the repetitions stall: 10 % of their requests 6x slower
//
// For each: the mean width of the 95 % interval of the ratio (log scale), the share of A/A
// comparisons whose interval lies wholly beyond a 3 % floor (false positives), and the share of
// +10 % comparisons whose interval lies wholly above it (power), at 8 and 30 repetitions a side.
// Before measuring, it checks the pruned merged-histogram bootstrap against a brute-force one on
// the same draws. Deterministic (seeded).
//   tail_bench [--trials 100] [--requests 1200] [--resamples 1000]

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "common/hist/hdr_histogram.h"
#include "common/stats/bootstrap.h"
#include "common/stats/summary.h"
#include "tests/bench/tail/pooled_quantile.h"

namespace perfgate::bench {
namespace {

struct Scenario {
  const char* name;
  double slow_share;  // of every repetition's requests, independently
  double slow_factor;
  double stall_chance;  // of a repetition
  double stall_share;   // of a stalled repetition's requests
  double stall_factor;
};

constexpr Scenario kScenarios[] = {
    {"iid", 0, 1, 0, 0, 1},
    {"slow-mode", 0.02, 8, 0, 0, 1},
    {"stalls", 0, 1, 0.25, 0.04, 6},
    {"rare-big", 0, 1, 0.10, 0.10, 6},
};

// One repetition of `requests` latencies (µs), every one scaled by `shift`: its histogram and p99.
common::HdrHistogram Repetition(std::mt19937_64& rng, const Scenario& s, int requests,
                                double shift) {
  auto h = common::HdrHistogram::Create();
  std::lognormal_distribution<double> body(std::log(1000 * shift), 0.35);
  std::bernoulli_distribution stalled(s.stall_chance);
  const bool stall = stalled(rng);
  std::bernoulli_distribution slow(s.slow_share), stuck(stall ? s.stall_share : 0);
  for (int i = 0; i < requests; ++i) {
    double v = body(rng);
    if (slow(rng)) v *= s.slow_factor;
    if (stuck(rng)) v *= s.stall_factor;
    h->Record(static_cast<int64_t>(v));
  }
  return *std::move(h);
}

CountedValues Counted(const common::HdrHistogram& h) {
  CountedValues r;
  for (const auto& [v, c] : h.Buckets()) {
    r.values.push_back(static_cast<double>(v));
    r.counts.push_back(c);
  }
  return r;
}

struct Tally {
  double width = 0;  // summed log(high / low) of the +10 % comparisons
  int false_positives = 0, detected = 0;
};

// Aborts unless the pruned bootstrap equals a brute-force one (every bucket merged) on the same
// draws: the benchmark's own estimator is checked before it is measured.
void CheckPrunedBootstrap() {
  std::mt19937_64 gen(11);
  std::vector<CountedValues> base, cand;
  for (int i = 0; i < 7; ++i) base.push_back(Counted(Repetition(gen, kScenarios[1], 800, 1)));
  for (int i = 0; i < 5; ++i) cand.push_back(Counted(Repetition(gen, kScenarios[2], 800, 1.05)));
  common::BootstrapOptions opts;
  opts.resamples = 300;
  for (double q : {0.5, 0.99, 0.999}) {
    const PooledQuantileRatio r = BootstrapPooledQuantile(base, cand, q, opts);
    std::mt19937_64 rng(opts.seed);
    std::uniform_int_distribution<size_t> pick_b(0, base.size() - 1), pick_c(0, cand.size() - 1);
    std::vector<double> ratios;
    for (int i = 0; i < opts.resamples; ++i) {
      std::vector<CountedValues> b, c;
      for (size_t k = 0; k < base.size(); ++k) b.push_back(base[pick_b(rng)]);
      for (size_t k = 0; k < cand.size(); ++k) c.push_back(cand[pick_c(rng)]);
      ratios.push_back(PooledQuantile(c, q) / PooledQuantile(b, q));
    }
    std::sort(ratios.begin(), ratios.end());
    if (r.ratio.low != common::Quantile(ratios, 0.025) ||
        r.ratio.high != common::Quantile(ratios, 0.975)) {
      std::fprintf(stderr, "pruned bootstrap differs from brute force at q = %g\n", q);
      std::exit(1);
    }
  }
}

}  // namespace
}  // namespace perfgate::bench

int main(int argc, char** argv) {
  using namespace perfgate::bench;
  CLI::App app{
      "perfgate tail benchmark: the median of per-repetition p99s against the p99 of merged "
      "histograms, on simulated repetitions with and without stalls"};
  int trials = 100, requests = 1200, resamples = 1000;
  app.add_option("--trials", trials, "comparisons per cell (each an A/A and a +10 % pair)")
      ->check(CLI::Range(10, 10000));
  app.add_option("--requests", requests, "requests a repetition (the sample target's: 1,200)")
      ->check(CLI::Range(100, 1000000));
  app.add_option("--resamples", resamples, "bootstrap resamples")->check(CLI::Range(100, 100000));
  CLI11_PARSE(app, argc, argv);
  CheckPrunedBootstrap();
  const double floor = 0.03, shift = 1.10;
  std::printf(
      "p99 of %d requests a repetition, %d comparisons a cell, 95 %% intervals, %.0f %% "
      "floor, +%.0f %% shift\n\n",
      requests, trials, 100 * floor, 100 * (shift - 1));
  std::printf(
      "| scenario | reps a side | interval width: median of p99s / merged | ratio | A/A "
      "false positives: median / merged | power at +10 %%: median / merged |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Scenario& s : kScenarios) {
    for (int reps : {8, 30}) {
      Tally median, merged;
      for (int t = 0; t < trials; ++t) {
        std::mt19937_64 rng(1000 * t + reps);
        perfgate::common::BootstrapOptions opts;
        opts.resamples = resamples;
        opts.seed = t + 1;
        for (bool aa : {true, false}) {
          std::vector<CountedValues> b, c;
          std::vector<double> bp, cp;
          for (int i = 0; i < reps; ++i) {
            const auto hb = Repetition(rng, s, requests, 1);
            const auto hc = Repetition(rng, s, requests, aa ? 1 : shift);
            bp.push_back(hb.ValueAtPercentile(99));
            cp.push_back(hc.ValueAtPercentile(99));
            b.push_back(Counted(hb));
            c.push_back(Counted(hc));
          }
          const perfgate::common::RatioInterval m = perfgate::common::BootstrapRatio(bp, cp, opts);
          const PooledQuantileRatio p = BootstrapPooledQuantile(b, c, 0.99, opts);
          auto tally = [&](Tally& into, double low, double high) {
            if (aa) {
              into.false_positives += low > 1 + floor || high < 1 - floor;
            } else {
              into.width += std::log(high / low);
              into.detected += low > 1 + floor;
            }
          };
          tally(median, m.low, m.high);
          tally(merged, p.ratio.low, p.ratio.high);
        }
      }
      const double wm = median.width / trials, wp = merged.width / trials;
      std::printf("| %s | %d | %.3f / %.3f | %.2f | %d / %d | %d / %d |\n", s.name, reps, wm, wp,
                  wp / wm, median.false_positives, merged.false_positives, median.detected,
                  merged.detected);
    }
  }
  std::printf(
      "\nratio = merged width / median width (below 1: the merged histograms know the "
      "p99 better). Counts are of %d.\n",
      trials);
  return 0;
}
