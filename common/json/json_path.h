// One value of a JSON document by a dotted path ("status.leader.name"), as text: a string as
// is, a number or boolean as JSON writes it. For probes that read a field of an HTTP answer
// (leader probes, wait_until phases).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace perfgate::common {

// INVALID_ARGUMENT when `body` is not JSON or the value is an object, array or null;
// NOT_FOUND naming the path when a step of it is missing.
absl::StatusOr<std::string> JsonFieldText(const std::string& body, const std::string& path);

}  // namespace perfgate::common
