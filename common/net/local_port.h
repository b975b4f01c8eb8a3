// Loopback ports for child processes that must be told their port up front (a service of a
// benchmark stack, a private Prometheus, chromedriver in the tests).
#pragma once

#include "absl/status/statusor.h"

namespace perfgate::common {

// A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it for a socket that is
// then closed. Another process may take it before the caller's child binds it; callers that
// cannot tolerate that retry with a new port. INTERNAL when no socket can be bound.
absl::StatusOr<int> FreeLocalPort();

}  // namespace perfgate::common
