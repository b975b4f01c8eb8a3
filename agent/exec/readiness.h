// Waits until a service is ready: a TCP port accepts connections, an HTTP URL answers the
// expected status, or a command exits 0, polled every 100 ms up to the check's timeout.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// `alive` (optional) is asked between polls; when it returns a message the service died and
// waiting stops with that message. DEADLINE_EXCEEDED (with the last probe's error) on
// timeout, CANCELLED on cancel, FAILED_PRECONDITION when the service died.
absl::Status WaitReady(const v1::ReadinessCheck& check, BenchContext& ctx,
                       const std::function<std::string()>& alive = nullptr);
// One GET of `url` with the probes' short timeouts (1 s to connect, 2 s to read): the body when
// it answers `want_status`; UNAVAILABLE naming the URL and what went wrong otherwise.
absl::StatusOr<std::string> ProbeGet(const std::string& url, int want_status = 200);
// The same for a service with several instances (one per test host of a role): ready once the
// check passes with any one instance's template variables ({host}, {index}); each poll tries
// them in turn. The last failure reported on timeout is the last instance's.
absl::Status WaitReadyAny(const v1::ReadinessCheck& check, BenchContext& ctx,
                          std::vector<std::map<std::string, std::string>> instances,
                          const std::function<std::string()>& alive = nullptr);

}  // namespace perfgate::agent
