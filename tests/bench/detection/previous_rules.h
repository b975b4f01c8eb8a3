// The verdict rules perfgate used before issue 18, kept here only as the detection benchmark's
// reference: the same comparisons re-judged by them, side by side with today's. A metric was a
// regression or improvement when significant (Mann-Whitney p <= 0.01, Benjamini-Hochberg over
// all metrics <= 0.05) and its shift cleared a floor of max(3 %, 2 x its within-run CV) by the
// run-to-run margin (0 while the run-to-run CV was unknown); no_change when significant but
// below the floor by the margin, or not significant and below the floor; inconclusive
// otherwise. Every compared metric decided the overall verdict. One difference: their margin
// used the CV of run medians, and the comparison now carries the drift beyond the repetitions'
// own noise (never larger), so the re-judged margins are at most as wide as theirs were.
#pragma once

#include <vector>

#include "perfgate/v1/analysis.pb.h"

namespace perfgate::bench {

// Each metric's verdict under the previous rules, in the comparison's order, from the values
// and noise figures the comparison carries; `overall` the run's verdict under them.
std::vector<v1::Verdict> PreviousVerdicts(const v1::Comparison& c, v1::Verdict* overall);

// The effect floor the previous rules gave a metric: max(3 %, 2 x its within-run CV).
double PreviousFloor(const v1::MetricComparison& m);

}  // namespace perfgate::bench
