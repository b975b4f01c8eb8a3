#include "common/spec/limit_levels.h"

#include <vector>

#include "absl/strings/str_format.h"

namespace perfgate::common {

bool HasLevels(const v1::MetricLimit& l) {
  return l.has_target() || l.has_acceptable() || l.has_critical();
}

absl::Status CheckLimitLevels(const v1::MetricLimit& l) {
  std::vector<double> v;
  if (l.has_target()) v.push_back(l.target());
  if (l.has_acceptable()) v.push_back(l.acceptable());
  if (l.has_critical()) v.push_back(l.critical());
  bool up = true, down = true;
  for (size_t i = 1; i < v.size(); ++i) {
    up = up && v[i] >= v[i - 1];
    down = down && v[i] <= v[i - 1];
  }
  if (!up && !down) {
    return absl::InvalidArgumentError(
        "target, acceptable and critical must be ordered one way (e.g. 200, 500, 1000 for "
        "a latency; 1000, 800, 500 for a throughput)");
  }
  return absl::OkStatus();
}

LevelResult ClassifyLevel(const v1::MetricLimit& l, double value, bool lower_is_better,
                          const std::string& unit) {
  // Whether `value` is at least as good as `bound`.
  auto ok = [&](double bound) { return lower_is_better ? value <= bound : value >= bound; };
  const char* better = lower_is_better ? "<=" : ">=";
  const char* worse = lower_is_better ? ">" : "<";
  const std::string v = absl::StrFormat("%.4g %s", value, unit);
  if (l.has_critical() && !ok(l.critical())) {
    return {"critical", absl::StrFormat("%s: critical (%s %.4g %s)", v, worse, l.critical(), unit)};
  }
  if (l.has_target() && ok(l.target())) {
    return {"target",
            absl::StrFormat("%s: meets target (%s %.4g %s)", v, better, l.target(), unit)};
  }
  if (l.has_acceptable()) {
    if (ok(l.acceptable())) {
      return {"acceptable",
              absl::StrFormat("%s: acceptable (%s %.4g %s)", v, better, l.acceptable(), unit)};
    }
    return {"above_acceptable",
            absl::StrFormat("%s: beyond acceptable (%s %.4g %s)", v, worse, l.acceptable(), unit)};
  }
  if (l.has_target()) {
    return {"above_acceptable",
            absl::StrFormat("%s: misses target (%s %.4g %s)", v, worse, l.target(), unit)};
  }
  return {"acceptable", absl::StrFormat("%s: not critical", v)};
}

}  // namespace perfgate::common
