// Server-side SVG charts for the web pages (no JavaScript): per-repetition dot plots, latency
// percentile curves, and a metric's history with change points marked.
#pragma once

#include <string>
#include <vector>

namespace perfgate::controller {

std::string HtmlEscape(const std::string& s);

// Baseline and candidate values of one metric as two rows of dots on a shared axis.
std::string DotPlotSvg(const std::vector<double>& baseline, const std::vector<double>& candidate,
                       const std::string& unit);

// Two curves over percentiles (x: 50 .. 99.9 on a log scale of 1 / (1 - p)).
std::string PercentileCurveSvg(const std::vector<double>& percentiles,
                               const std::vector<double>& baseline,
                               const std::vector<double>& candidate);

struct HistorySvgPoint {
  double median, q1, q3;
  std::string label;  // tooltip
};
// Medians with their quartile bars; vertical markers before the indexes in `changes`.
std::string HistorySvg(const std::vector<HistorySvgPoint>& points, const std::vector<int>& changes,
                       const std::string& unit);

// A metric against the size of the work (a campaign's tiers, smallest first): x is each tier's
// `sizes` (hosts, or the tier's index when no tier has hosts), labelled by `labels`; the
// baseline and candidate values as two lines (NaN: the tier has no value on that side).
std::string ScaleCurveSvg(const std::vector<std::string>& labels, const std::vector<double>& sizes,
                          const std::vector<double>& baseline, const std::vector<double>& candidate,
                          const std::string& unit);

}  // namespace perfgate::controller
