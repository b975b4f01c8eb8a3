// Validation of submitted run specs: every error names the field and the problem, and the
// spec is bounded in size. Fills defaults so that stored specs are complete.
#pragma once

#include "absl/status/status.h"
#include "controller/queue/job_state.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// The label every agent carries implicitly, with its own name as value, so that a job's
// agent_selector can pin it to one agent (confirmation runs do).
inline constexpr char kAgentNameLabel[] = "perfgate.agent";

struct SpecLimits {
  int max_jobs = 256;
  size_t max_command_bytes = 64 * 1024;
  size_t max_env_entries = 256;
  size_t max_string_bytes = 1024;
  uint32_t max_timeout_seconds = 7 * 24 * 3600;
  size_t max_job_spec_bytes = 256 * 1024;  // one serialised job
  std::string promtool;                    // checks PromQL syntax when set (path to promtool)
};

// INVALID_ARGUMENT with "spec.jobs[2].command.timeout_seconds: …" style messages.
absl::Status ValidateAndDefaultRunSpec(v1::RunSpec* spec, const RetryPolicy& retry,
                                       const SpecLimits& limits = {});

}  // namespace perfgate::controller
