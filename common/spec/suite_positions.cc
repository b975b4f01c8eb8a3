#include "common/spec/suite_positions.h"

#include <cctype>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/spec/run_spec_rules.h"

namespace perfgate::common {
namespace {

// Proto field names whose suite key is another word; the rest lose a unit suffix
// (_seconds, _ms, _us) or are the same.
const std::map<std::string, std::string>& RenamedKeys() {
  static const auto* m =
      new std::map<std::string, std::string>{{"http_status", "status"},
                                             {"rate_to", "ramp_to"},
                                             {"max_generator_lag_p99_us", "max_generator_lag_p99"}};
  return *m;
}

std::string YamlKey(const std::string& proto_key) {
  if (auto it = RenamedKeys().find(proto_key); it != RenamedKeys().end()) return it->second;
  for (const char* suffix : {"_seconds", "_ms", "_us"}) {
    if (absl::EndsWith(proto_key, suffix))
      return proto_key.substr(0, proto_key.size() - std::string(suffix).size());
  }
  return proto_key;
}

// "env[KEY]" (a map entry in the proto path) is "env.KEY" in YAML; "args[2]" stays.
std::string YamlSegment(const std::string& seg) {
  size_t open = seg.find('[');
  if (open == std::string::npos) return YamlKey(seg);
  std::string key = YamlKey(seg.substr(0, open));
  std::string index = seg.substr(open + 1, seg.size() - open - 2);
  bool numeric = !index.empty();
  for (char c : index) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
  return numeric ? key + "[" + index + "]" : key + "." + index;
}

}  // namespace

std::string YamlPathOf(const std::string& proto_path) {
  std::vector<std::string> segs = absl::StrSplit(proto_path, '.');
  // A command job's fields sit on the job itself: jobs[0].command.timeout_seconds is
  // jobs[0].timeout, and the command line itself is jobs[0].command.
  if (segs.size() >= 2 && absl::StartsWith(segs[0], "jobs[") && segs[1] == "command") {
    if (segs.size() == 3 && segs[2] == "command")
      segs.pop_back();
    else if (segs.size() >= 3)
      segs.erase(segs.begin() + 1);
  }
  for (std::string& s : segs) s = YamlSegment(s);
  // A command load generator's command line is workload.command (or its run key).
  if (segs.size() >= 2 && segs.back() == "command" && segs[segs.size() - 2] == "command")
    segs.pop_back();
  return absl::StrJoin(segs, ".");
}

void SuitePositions::Record(const std::string& yaml_path, const YAML::Mark& mark) {
  marks_[yaml_path] = mark;
}

absl::Status SuitePositions::Locate(const std::string& file, const absl::Status& error) const {
  const std::string field = SpecErrorField(error);
  if (field.empty()) return error;
  const std::string path = YamlPathOf(field);
  // The nearest recorded value: the field itself, else the value that encloses it.
  std::string at = path;
  while (!at.empty() && !marks_.count(at)) {
    size_t cut = at.find_last_of(".[");
    at = cut == std::string::npos ? "" : at.substr(0, cut);
  }
  auto it = marks_.find(at);
  return ErrorAt(file, it == marks_.end() ? YAML::Mark::null_mark() : it->second, path,
                 SpecErrorProblem(error));
}

absl::Status SuitePositions::ErrorAt(const std::string& file, const YAML::Mark& m,
                                     const std::string& path, const std::string& problem) {
  if (m.is_null()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", path, ": ", problem));
  return absl::InvalidArgumentError(
      absl::StrCat(file, ":", m.line + 1, ":", m.column + 1, ": ", path, ": ", problem));
}

}  // namespace perfgate::common
