// A suite's scale tiers (docs/campaigns.md): `params:` (the suite's parameters and their
// defaults) and `tiers:` (small, medium, large, any names, in file order), each giving its own
// parameters, test host counts and sizes, and limits with levels. A tier inherits the suite's
// and overrides what it names. Reading a suite for a tier (suite_parser.h, ParseSuiteTier):
//   1. every `{param:NAME}` under `jobs:` is replaced by the tier's value, in the YAML itself,
//      so a parameter may stand for a number too (`count: "{param:services}"`);
//   2. the jobs are read as always;
//   3. the tier's hosts replace the count and size of the stack roles they name, its limits
//      are merged into each benchmark job's (per metric, the fields it gives), and each job is
//      named JOB@TIER, so its history and baselines are the tier's own.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::common {

inline constexpr size_t kMaxTiers = 16;
inline constexpr size_t kMaxParams = 64;
inline constexpr char kCustomTier[] = "custom";

struct TierSpec {
  std::string name;
  std::map<std::string, std::string> params;
  std::vector<v1::HostRole> hosts;  // count 0: the stack's
  std::vector<v1::MetricLimit> limits;
  std::string path;  // "tiers.NAME", for errors
};

struct SuiteTiers {
  std::map<std::string, std::string> params;  // the suite's defaults
  std::vector<TierSpec> tiers;                // in file order
};

// Reads the suite's `params:` and `tiers:` (both optional). Errors name file, line and field.
absl::StatusOr<SuiteTiers> ReadSuiteTiers(const std::string& file, const YAML::Node& root);

// Replaces {param:NAME} in every scalar under `node`, in place. An unknown parameter is an
// error naming the file, the line and the field.
absl::Status SubstituteParams(const std::string& file, const std::string& path, YAML::Node node,
                              const std::map<std::string, std::string>& params);

// The tier's hosts, limits and job names applied to a parsed spec (step 3 above).
absl::Status ApplyTier(const TierSpec& tier, v1::RunSpec* spec);

// The test hosts of the spec's largest stack.
uint32_t StackHosts(const v1::RunSpec& spec);

}  // namespace perfgate::common
