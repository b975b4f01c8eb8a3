// A project's rules: what a valid project is, and its defaults. Every error reads
// "project.FIELD: problem". Pure (suites are parsed with the suite file rules).
#pragma once

#include "absl/status/status.h"
#include "perfgate/v1/forge.pb.h"

namespace perfgate::controller {

inline constexpr int kMaxProjectSuites = 32;
inline constexpr int kMaxProjectListEntries = 256;  // branches, triggers, trusted users

// Checks `p` and fills each suite's name from its file. Versions and times are the store's.
absl::Status ValidateProject(v1::Project* p);

}  // namespace perfgate::controller
