// Suite files (YAML, or JSON, which YAML reads too) parsed into a RunSpec. The parser reads the
// file's form (keys, types, durations, enumerations); the spec's rules and defaults are
// run_spec_rules', applied here exactly as the controller applies them to API submissions.
// Every error names the file, the line and column, the field path and the problem; unknown keys
// are errors (a typo must not silently change a benchmark). Files are bounded in size.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "perfgate/v1/campaign.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::common {

inline constexpr size_t kMaxSuiteBytes = 1 << 20;

// Parses `text` (named `filename` in errors) and checks it with ValidateAndDefaultRunSpec; the
// spec comes back with its defaults filled in, except max_attempts (the controller's retry
// policy). INVALID_ARGUMENT on any problem.
// What a suite read from a repository leaves out: its benchmark jobs build that repository.
struct SuiteDefaults {
  std::string build_repository;  // for a benchmark job's build without a repository
};
absl::StatusOr<v1::RunSpec> ParseSuite(const std::string& filename, const std::string& text,
                                       const SuiteDefaults& defaults = {});
// The tiers a suite defines (suite_tiers.h), in file order; none for a suite without.
absl::StatusOr<std::vector<std::string>> SuiteTierNames(const std::string& filename,
                                                        const std::string& text);

// Which tier to read a suite for: one of its tiers, "custom" (the suite's defaults), or ""
// (none: the suite's default parameters, the jobs' own names); `params` override the tier's.
struct TierChoice {
  std::string name;
  std::map<std::string, std::string> params;
};
struct TierRun {
  std::string tier;
  std::map<std::string, std::string> params;  // every parameter's value for this tier
  uint32_t hosts = 0;                         // test hosts of its largest stack
  v1::RunSpec spec;
};
// ParseSuite for a tier: its parameters filled in, its hosts and limits applied, each job
// named JOB@TIER (suite_tiers.h). INVALID_ARGUMENT naming an unknown tier or parameter.
absl::StatusOr<TierRun> ParseSuiteTier(const std::string& filename, const std::string& text,
                                       const TierChoice& choice,
                                       const SuiteDefaults& defaults = {});

// The campaign of a suite's tiers (docs/campaigns.md): `tiers` in the given order (every tier of
// the suite, in its order, when empty; one tier named "custom" when only `params` are given),
// each tier's spec parsed with ParseSuiteTier, with its parameters and hosts. The campaign's
// suite name and project are the suite's; INVALID_ARGUMENT for a suite without tiers (and no
// params), without a name, or naming an unknown tier or parameter.
absl::StatusOr<v1::Campaign> ParseSuiteCampaign(const std::string& filename,
                                                const std::string& text,
                                                const std::vector<std::string>& tiers,
                                                const std::map<std::string, std::string>& params);

// Reads and parses a file. NOT_FOUND if unreadable, INVALID_ARGUMENT if too large or invalid.
absl::StatusOr<v1::RunSpec> LoadSuiteFile(const std::string& path);
// A suite file's text: NOT_FOUND when it cannot be read, INVALID_ARGUMENT when it is larger than
// kMaxSuiteBytes (read no further than that).
absl::StatusOr<std::string> ReadSuiteText(const std::string& path);

}  // namespace perfgate::common
