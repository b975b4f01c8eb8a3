// Absolute levels of a metric (MetricLimit target / acceptable / critical): their consistency,
// and where a value falls. The sense follows the metric's direction: for lower_is_better a
// value at or under target meets it, over critical is critical.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::common {

// INVALID_ARGUMENT unless the given levels are ordered one way (target, acceptable, critical
// all non-decreasing or all non-increasing).
absl::Status CheckLimitLevels(const v1::MetricLimit& l);

bool HasLevels(const v1::MetricLimit& l);

struct LevelResult {
  std::string level;  // target, acceptable, above_acceptable, critical
  std::string text;   // e.g. "0.41 ms: within target (<= 200 ms)"
};

LevelResult ClassifyLevel(const v1::MetricLimit& l, double value, bool lower_is_better,
                          const std::string& unit);

}  // namespace perfgate::common
