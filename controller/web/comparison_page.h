// The comparison page (/runs/ID/compare): verdict table, limit levels, latency percentile
// curves, per-repetition dot plots and profile diffs of one perfgate.v1.Comparison, the same
// model the Markdown, text and JSON reports render (controller/report). Pure: safe from any
// thread; the golden file tests/unit/controller/testdata/comparison.html pins it.
#pragma once

#include <string>

#include "perfgate/v1/analysis.pb.h"

namespace perfgate::controller {

std::string ComparisonPage(const v1::Comparison& comparison);

}  // namespace perfgate::controller
