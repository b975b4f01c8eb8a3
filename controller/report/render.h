// One comparison rendered for people and programs: Markdown for a PR comment (verdict table up
// top, details collapsed), plain text for the CLI, JSON (the proto3 JSON form of
// perfgate.v1.Comparison, the documented schema). The HTML page is in controller/web.
#pragma once

#include <string>
#include <vector>

#include "perfgate/v1/analysis.pb.h"

namespace perfgate::controller {

std::string RenderMarkdown(const v1::Comparison& c, const std::string& page_url);
std::string RenderText(const v1::Comparison& c);
std::string RenderJson(const v1::Comparison& c);

// Shared by the renderers: "+10.2 %" / "x1.102" style numbers.
std::string FormatChange(const v1::MetricComparison& m);
// The interval that decided (the repetitions' widened by run-to-run noise), as changes in %.
std::string FormatInterval(const v1::MetricComparison& m);
// "+-3.0 % (runs +-2.8 % assumed)": the practical floor and the margin.
std::string FormatFloor(const v1::MetricComparison& m);
// Which rule decided, for people: "interval beyond the floor", "... ; needs 152 a side".
std::string DecidedBy(const v1::MetricComparison& m);
// Whether the metric decides the verdict (comparisons stored before gating: every metric).
bool IsGate(const v1::MetricComparison& m);
std::string FormatValue(double v);
// A profile figure in its unit, scaled for people: "1.23 s", "4.50 MiB", "12 B".
std::string FormatProfileValue(int64_t v, const std::string& unit);
// The same with a sign for changes: "+1.50 MiB", "-3.20 ms".
std::string SignedProfileValue(int64_t v, const std::string& unit);
// An alert's evidence from its profile diff, a line per function: "+74.44 ms  BurnCpu(...)".
std::vector<std::string> WorstFunctionLines(const v1::Alert& a);
// "mean of 9 -> 9 profiles" (or "1 -> 1 profile"): what a profile diff's figures stand for.
std::string ProfileCounts(const v1::ProfileDiff& d);

}  // namespace perfgate::controller
