// PromQL syntax check at submit time, so that a typo in a suite's query fails the submission
// instead of leaving gaps in every repetition. Uses `promtool check rules` (Debian's prometheus
// package) on a generated rules file: one recording rule per expression.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace perfgate::common {

// The literal "[window]" in a query stands for the repetition's measured window; the agent
// substitutes it with the window's length in milliseconds ("[30000ms]").
std::string SubstituteWindow(const std::string& expr, int64_t window_ms);

// Checks (field, expr) pairs. INVALID_ARGUMENT "FIELD: bad PromQL: <promtool's words>" for the
// first bad one; OK when all parse. FAILED_PRECONDITION when promtool cannot be run.
absl::Status CheckPromql(const std::string& promtool,
                         const std::vector<std::pair<std::string, std::string>>& exprs);

}  // namespace perfgate::common
