// Structured logging: every line is logfmt (ts=… level=… component=… msg="…" key=value …), so
// that log shippers can parse it without guessing. Call InitLogging once in main().
#pragma once

#include <string>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace perfgate::common {

// level: trace|debug|info|warn|error. Returns INVALID_ARGUMENT for an unknown level.
absl::Status InitLogging(const std::string& component, const std::string& level);

}  // namespace perfgate::common
