// Where each value of a suite file stood, so that an error found later, on the parsed spec, can
// point at the file's line and column. run_spec_rules names fields by their proto path
// ("jobs[0].command.timeout_seconds", "…stages[1].rate_to"); a suite file names them as its
// YAML keys ("jobs[0].timeout", "…stages[1].ramp_to"). YamlPathOf translates the one into the
// other: that translation is the whole of the difference between the two vocabularies.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "absl/status/status.h"

namespace perfgate::common {

// The suite file's path for a proto field path.
std::string YamlPathOf(const std::string& proto_path);

class SuitePositions {
 public:
  void Record(const std::string& yaml_path, const YAML::Mark& mark);

  // A run_spec_rules error (ValidateAndDefaultRunSpec) restated in the file's terms:
  // "FILE:LINE:COL: YAML_PATH: PROBLEM". A field the file left out is located at the nearest
  // enclosing value that it has. Any other status is returned unchanged.
  absl::Status Locate(const std::string& file, const absl::Status& rules_error) const;

  // "FILE:LINE:COL: PATH: PROBLEM" (without the position when the mark has none).
  static absl::Status ErrorAt(const std::string& file, const YAML::Mark& mark,
                              const std::string& path, const std::string& problem);

 private:
  std::map<std::string, YAML::Mark> marks_;
};

}  // namespace perfgate::common
