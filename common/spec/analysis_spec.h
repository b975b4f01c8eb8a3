// How a job's metrics are judged, from its suite's `analysis:` (proto AnalysisSpec): each
// metric's practical floor and whether it gates (decides the verdict and may start a
// confirmation run), and the budget of a confirmation. docs/analysis.md explains the defaults.
#pragma once

#include <cstdint>
#include <string>

#include "perfgate/v1/suite.pb.h"

namespace perfgate::common {

inline constexpr double kDefaultMinEffect = 0.03;
inline constexpr uint32_t kDefaultMaxConfirmationRepetitions = 60;
inline constexpr uint32_t kDefaultMaxConfirmationSeconds = 1800;

// Whether `name` matches `pattern`, where * stands for any characters (dots included).
bool MetricMatches(const std::string& pattern, const std::string& name);

// The default gating set: of perfgate's own figures, latency p50 and p99, throughput, errors
// and peak RSS (http.*, pg.*, proc.*); every metric a harness, command or Prometheus query
// names; never the database statistics (dbstats.*).
bool GatesByDefault(const std::string& metric);

struct MetricRules {
  double min_effect = kDefaultMinEffect;
  bool gate = true;
};

// The rules for `metric`: the first `metrics` entry matching it that sets a field wins, then
// the spec's min_effect and gate list, then the defaults.
MetricRules RulesFor(const v1::AnalysisSpec& a, const std::string& metric);

}  // namespace perfgate::common
