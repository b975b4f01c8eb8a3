// Typed reading of YAML values for the suite parser: strings, durations, bounded numbers,
// booleans, enumeration words, string lists and maps, with unknown keys refused and the position
// of every value recorded (SuitePositions) for errors found later. Each error names the file,
// line, column, field path and problem. Not thread-safe: one per parse.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_positions.h"
#include "common/status/macros.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::common {

class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}
  const SuitePositions& positions() const { return positions_; }

 protected:
  using StrMapField = google::protobuf::Map<std::string, std::string>;
  using StrListField = google::protobuf::RepeatedPtrField<std::string>;

  absl::Status Error(const YAML::Node& n, const std::string& path,
                     const std::string& problem) const {
    return SuitePositions::ErrorAt(file_, n.Mark(), path, problem);
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // Refuses unknown keys (a typo must not silently change a benchmark) and records where each
  // value stands.
  absl::Status CheckKeys(const YAML::Node& map, const std::string& path,
                         const std::set<std::string>& allowed) {
    if (!map.IsMap()) return Error(map, path.empty() ? "suite" : path, "must be a mapping");
    positions_.Record(path, map.Mark());
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        return Error(kv.first, Join(path, key),
                     "unknown key (known: " + absl::StrJoin(allowed, ", ") + ")");
      }
      positions_.Record(Join(path, key), kv.second.Mark());
    }
    return absl::OkStatus();
  }

  // A list; each item's position is recorded.
  absl::Status List(const YAML::Node& n, const std::string& path, const char* what = "a list") {
    if (!n.IsSequence()) return Error(n, path, std::string("must be ") + what);
    for (size_t i = 0; i < n.size(); ++i)
      positions_.Record(absl::StrCat(path, "[", i, "]"), n[i].Mark());
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) return Error(n, path, "must be a string");
    return n.as<std::string>();
  }

  absl::StatusOr<std::string> NonEmpty(const YAML::Node& n, const std::string& path) const {
    ASSIGN_OR_RETURN(std::string s, Str(n, path));
    if (s.empty()) return Error(n, path, "must not be empty");
    return s;
  }

  absl::StatusOr<absl::Duration> Duration(const YAML::Node& n, const std::string& path,
                                          absl::Duration lo, absl::Duration hi,
                                          const std::string& want) const {
    absl::Duration d;
    if (!n.IsScalar() || !absl::ParseDuration(n.as<std::string>(), &d) || d < lo || d > hi)
      return Error(n, path, want);
    return d;
  }

  absl::StatusOr<uint32_t> Seconds(const YAML::Node& n, const std::string& path,
                                   bool allow_zero = false) const {
    std::string want = "want a duration like 30s, 10m, 1h";
    if (!n.IsScalar()) return Error(n, path, want);
    std::string v = n.as<std::string>();
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration() ||
        (!allow_zero && d == absl::ZeroDuration())) {
      return Error(n, path, want + (allow_zero ? "" : " (positive)") + "; got '" + v + "'");
    }
    if (d > absl::Hours(24 * 7)) return Error(n, path, "at most a week; got '" + v + "'");
    if (d != absl::ZeroDuration() && d < absl::Seconds(1))
      return Error(n, path, "at least 1s; got '" + v + "'");
    return static_cast<uint32_t>(absl::ToInt64Seconds(d));
  }

  absl::StatusOr<uint32_t> Whole(const YAML::Node& n, const std::string& path, int64_t lo,
                                 int64_t hi) const {
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v) || v < lo || v > hi) {
      return Error(n, path, absl::StrCat("must be a whole number from ", lo, " to ", hi));
    }
    return static_cast<uint32_t>(v);
  }

  absl::StatusOr<double> Number(const YAML::Node& n, const std::string& path, double lo,
                                double hi) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !(v >= lo && v <= hi)) {
      return Error(n, path, absl::StrCat("must be a number from ", lo, " to ", hi));
    }
    return v;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& n, const std::string& path) const {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      return Error(n, path, "must be true or false");
    return v;
  }

  // One of `words`, returned as its index.
  absl::StatusOr<size_t> Word(const YAML::Node& n, const std::string& path,
                              const std::vector<std::string>& words) const {
    ASSIGN_OR_RETURN(std::string v, Str(n, path));
    for (size_t i = 0; i < words.size(); ++i)
      if (v == words[i]) return i;
    return Error(n, path, "'" + v + "': want " + absl::StrJoin(words, " or "));
  }

  absl::Status StrMap(const YAML::Node& n, const std::string& path, StrMapField* out) {
    if (!n.IsMap()) return Error(n, path, "must be a mapping of strings");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      std::string p = path + "." + k;
      positions_.Record(p, kv.second.Mark());
      ASSIGN_OR_RETURN((*out)[k], Str(kv.second, p));
    }
    return absl::OkStatus();
  }

  absl::Status StrList(const YAML::Node& n, const std::string& path, StrListField* out) {
    RETURN_IF_ERROR(List(n, path, "a list of strings"));
    for (size_t i = 0; i < n.size(); ++i) {
      ASSIGN_OR_RETURN(*out->Add(), Str(n[i], absl::StrCat(path, "[", i, "]")));
    }
    return absl::OkStatus();
  }

  // Sets a field from `key` when the key is present, reading it with `read(node, path)`.
  template <typename Msg, typename T, typename Read>
  absl::Status Opt(const YAML::Node& n, const std::string& path, const char* key, Msg* m,
                   void (Msg::*set)(T), Read read) {
    if (!n[key]) return absl::OkStatus();
    ASSIGN_OR_RETURN(T v, read(n[key], Join(path, key)));
    (m->*set)(v);
    return absl::OkStatus();
  }
  template <typename Msg>
  absl::Status OptSeconds(const YAML::Node& n, const std::string& path, const char* key, Msg* m,
                          void (Msg::*set)(uint32_t), bool allow_zero = false) {
    return Opt(n, path, key, m, set, [&](const YAML::Node& v, const std::string& p) {
      return Seconds(v, p, allow_zero);
    });
  }
  template <typename Msg>
  absl::Status OptWhole(const YAML::Node& n, const std::string& path, const char* key, int64_t lo,
                        int64_t hi, Msg* m, void (Msg::*set)(uint32_t)) {
    return Opt(n, path, key, m, set,
               [&](const YAML::Node& v, const std::string& p) { return Whole(v, p, lo, hi); });
  }
  template <typename Msg>
  absl::Status OptNumber(const YAML::Node& n, const std::string& path, const char* key, double lo,
                         double hi, Msg* m, void (Msg::*set)(double)) {
    return Opt(n, path, key, m, set,
               [&](const YAML::Node& v, const std::string& p) { return Number(v, p, lo, hi); });
  }
  template <typename Msg>
  absl::Status OptBool(const YAML::Node& n, const std::string& path, const char* key, Msg* m,
                       void (Msg::*set)(bool)) {
    return Opt(n, path, key, m, set,
               [&](const YAML::Node& v, const std::string& p) { return Bool(v, p); });
  }
  absl::Status OptStr(const YAML::Node& n, const std::string& path, const char* key,
                      std::string* out) {
    if (!n[key]) return absl::OkStatus();
    ASSIGN_OR_RETURN(*out, Str(n[key], Join(path, key)));
    return absl::OkStatus();
  }

  // "256Mi", "1Gi", "512M", "1048576": bytes, from 1 MiB to 1 TiB.
  absl::StatusOr<uint64_t> Bytes(const YAML::Node& n, const std::string& path) const {
    const std::string want = "want a size like 256Mi, 1Gi or 512M (1Mi to 1Ti)";
    if (!n.IsScalar()) return Error(n, path, want);
    std::string v = n.as<std::string>();
    uint64_t scale = 1;
    for (auto [suffix, factor] : {std::pair{"Ki", 1ull << 10},
                                  {"Mi", 1ull << 20},
                                  {"Gi", 1ull << 30},
                                  {"Ti", 1ull << 40},
                                  {"K", 1000ull},
                                  {"M", 1000ull * 1000},
                                  {"G", 1000ull * 1000 * 1000}}) {
      if (absl::EndsWith(v, suffix)) {
        v.resize(v.size() - strlen(suffix));
        scale = factor;
        break;
      }
    }
    double number = 0;
    if (!absl::SimpleAtod(v, &number) || !(number > 0)) return Error(n, path, want);
    const double bytes = number * static_cast<double>(scale);
    if (bytes < (1 << 20) || bytes > static_cast<double>(1ull << 40))
      return Error(n, path, want + "; got '" + n.as<std::string>() + "'");
    return static_cast<uint64_t>(bytes);
  }

  // A metric limit: {metric, max, min, target, acceptable, critical}.
  absl::Status Limit(const YAML::Node& n, const std::string& p, v1::MetricLimit* m) {
    RETURN_IF_ERROR(CheckKeys(n, p, {"metric", "max", "min", "target", "acceptable", "critical"}));
    RETURN_IF_ERROR(OptStr(n, p, "metric", m->mutable_metric()));
    using Setter = void (v1::MetricLimit::*)(double);
    for (auto [key, set] : {std::pair<const char*, Setter>{"max", &v1::MetricLimit::set_max},
                            {"min", &v1::MetricLimit::set_min},
                            {"target", &v1::MetricLimit::set_target},
                            {"acceptable", &v1::MetricLimit::set_acceptable},
                            {"critical", &v1::MetricLimit::set_critical}}) {
      if (!n[key]) continue;
      ASSIGN_OR_RETURN(auto v, Number(n[key], Join(p, key), -1e18, 1e18));
      (m->*set)(v);
    }
    return absl::OkStatus();
  }

  // A test host role: {role, count, cpus, memory}; count left 0 when not given.
  absl::Status HostRole(const YAML::Node& n, const std::string& p, v1::HostRole* h) {
    RETURN_IF_ERROR(CheckKeys(n, p, {"role", "count", "cpus", "memory"}));
    if (!n["role"]) return Error(n, p + ".role", "is required");
    ASSIGN_OR_RETURN(*h->mutable_role(), NonEmpty(n["role"], p + ".role"));
    RETURN_IF_ERROR(OptWhole(n, p, "count", 1, kMaxHosts, h, &v1::HostRole::set_count));
    RETURN_IF_ERROR(OptNumber(n, p, "cpus", 0.01, 1024, h, &v1::HostRole::set_cpus));
    if (n["memory"]) {
      ASSIGN_OR_RETURN(uint64_t bytes, Bytes(n["memory"], p + ".memory"));
      h->set_memory_bytes(bytes);
    }
    return absl::OkStatus();
  }

  std::string file_;
  SuitePositions positions_;
};

}  // namespace perfgate::common
