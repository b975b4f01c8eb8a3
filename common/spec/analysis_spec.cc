#include "common/spec/analysis_spec.h"

#include <fnmatch.h>

#include <cstring>

#include "absl/strings/match.h"

namespace perfgate::common {

bool MetricMatches(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool GatesByDefault(const std::string& metric) {
  static const char* const kOwn[] = {"http.latency.p50", "http.latency.p99", "http.throughput",
                                     "http.errors",      "http.error_ratio", "pg.tps",
                                     "pg.latency.mean",  "pg.failed",        "proc.*.rss_peak"};
  // A phased workload's (docs/campaigns.md): what a scale-tier plan judges.
  static const char* const kPhases[] = {"ops.*.rate",       "ops.*.latency.p99",
                                        "ops.*.failures",   "wait.*.seconds",
                                        "soak.*.rss_slope", "load.*fault.*.recovery"};
  // A load or soak phase's generator figures (load.http.latency.p99, load.api.http...): as
  // the generator's own.
  for (const char* phase : {"load.", "soak."}) {
    if (!absl::StartsWith(metric, phase)) continue;
    for (const char* gen : {"http.", "pg."}) {
      const size_t at = metric.find(std::string(".") + gen);
      if (at != std::string::npos && metric.find('.', std::strlen(phase)) >= at)
        return GatesByDefault(metric.substr(at + 1));
    }
  }
  for (const char* phase : {"ops.", "wait.", "soak.", "load.", "cleanup."}) {
    if (!absl::StartsWith(metric, phase)) continue;
    for (const char* p : kPhases) {
      if (MetricMatches(p, metric)) return true;
    }
    return false;
  }
  for (const char* prefix : {"http.", "pg.", "proc.", "dbstats."}) {
    if (!absl::StartsWith(metric, prefix)) continue;
    for (const char* p : kOwn) {
      if (MetricMatches(p, metric)) return true;
    }
    return false;
  }
  return true;
}

MetricRules RulesFor(const v1::AnalysisSpec& a, const std::string& metric) {
  MetricRules r;
  bool floor_set = false, gate_set = false;
  for (const v1::MetricAnalysis& m : a.metrics()) {
    if (!MetricMatches(m.metric(), metric)) continue;
    if (m.has_min_effect() && !floor_set) {
      r.min_effect = m.min_effect();
      floor_set = true;
    }
    if (m.has_gate() && !gate_set) {
      r.gate = m.gate();
      gate_set = true;
    }
  }
  if (!floor_set && a.has_min_effect()) r.min_effect = a.min_effect();
  if (!gate_set) {
    if (a.gate_size() == 0) {
      r.gate = GatesByDefault(metric);
    } else {
      r.gate = false;
      for (const std::string& p : a.gate()) r.gate |= MetricMatches(p, metric);
    }
  }
  return r;
}

}  // namespace perfgate::common
